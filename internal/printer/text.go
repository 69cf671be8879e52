package printer

import (
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// appendText appends s transcoded to the code page. It never fails and
// never emits a control byte, so no text (a store name, an item title from
// the register) can inject an ESC/POS command:
//
//   - the text is NFC-normalised first, so a decomposed "a" + U+0301 prints
//     as the table's "á";
//   - tab, newline and the other line-breaking controls become a space (the
//     encoder decides where lines break); every other control (C0, DEL, C1)
//     and invisible format character (U+200B, U+FEFF, bidi marks) is dropped;
//   - a character the table lacks becomes '?', and so does invalid UTF-8;
//     a lone combining mark the table lacks is dropped rather than printed
//     as a stray '?'.
func (cp codePage) appendText(dst []byte, s string) []byte {
	if !norm.NFC.IsNormalString(s) {
		s = norm.NFC.String(s)
	}
	for _, r := range s {
		switch {
		case r == '\t' || r == '\n' || r == '\v' || r == '\f' || r == '\r' || r == 0x85 || r == 0x2028 || r == 0x2029:
			dst = append(dst, ' ')
			continue
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			continue
		}
		b, ok := cp.table.EncodeRune(r)
		if !ok || b < 0x20 || b == 0x7f {
			if unicode.Is(unicode.Mn, r) {
				continue
			}
			b = '?'
		}
		dst = append(dst, b)
	}
	return dst
}

// text returns s transcoded, for layout: in these single-byte tables one
// byte is one printed column.
func (cp codePage) text(s string) []byte { return cp.appendText(nil, s) }
