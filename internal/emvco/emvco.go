// Package emvco provides parsing and checking of EMVCo merchant-presented
// QR payloads, the qr_data string the Mercado Pago Orders API returns for
// dynamic and hybrid orders, so that a corrupt payload is never shown to a
// customer.
//
// A payload is a sequence of data objects, each a 2-digit tag, a 2-digit
// decimal length and a value of that many characters. Templates (tags 26-51,
// 62, 64 and 80-99) hold data objects of their own. Parse demands only what
// every Mercado Pago payload has and what makes it safe to show:
//
//   - well-formed TLV from the first character to the last;
//   - tag 00 (payload format indicator) first, with value "01";
//   - tag 63 (CRC) last, with length 04, holding the CRC-16/CCITT-FALSE of
//     everything before its value (up to and including "6304").
//
// It does not demand tags that real payloads omit: the static Mercado Pago
// sample has no tag 62, and no Mercado Pago payload has tag 54 (amount).
//
// Choices where the EMVCo text leaves room, made here once:
//
//   - Characters: the payload must be valid UTF-8 without control
//     characters. Lengths count characters (runes), as EMVCo defines them,
//     not bytes; for the ASCII payloads Mercado Pago returns the two are the
//     same, and a Pix payload with an accented merchant name still parses.
//     The CRC is computed over the UTF-8 bytes.
//   - At most MaxLen (512) characters.
//   - The CRC's four hex digits are accepted in either case. Generators
//     write uppercase (WithCRC does); a lowercase CRC with the right value
//     is not a corrupt payload, and refusing it would only fail a sale.
//   - A repeated tag 00, or a tag 63 anywhere but last, is an error; other
//     repeated tags are kept in order and Get returns the first.
//   - A zero length is well-formed TLV and accepted.
//   - A template whose value is not itself well-formed TLV is not an error:
//     its Field.Sub is nil and the raw Value is kept.
//
// Error offsets count characters from the start of the payload.
package emvco

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxLen is the most characters a payload may have.
const MaxLen = 512

// Field is one data object. Sub holds the data objects inside a template
// (tags 26-51, 62, 64, 80-99) when its value is well-formed TLV.
type Field struct {
	Tag   string
	Value string
	Sub   []Field
}

// Payload is a parsed payload: its top-level data objects in order, the
// CRC (tag 63) included.
type Payload struct {
	Fields []Field
}

// Error is the error Parse and Check return: what is wrong and, when it is
// about one place, where.
type Error struct {
	Offset int    // character offset of the data object, -1 when not about one place
	Tag    string // tag of the data object concerned, "" when unknown
	Reason string
}

func (e *Error) Error() string {
	switch {
	case e.Offset < 0:
		return "emvco: " + e.Reason
	case e.Tag == "":
		return fmt.Sprintf("emvco: %s (offset %d)", e.Reason, e.Offset)
	default:
		return fmt.Sprintf("emvco: %s (offset %d, tag %s)", e.Reason, e.Offset, e.Tag)
	}
}

// Get returns the value of the first top-level data object with tag.
func (p *Payload) Get(tag string) (string, bool) {
	for _, f := range p.Fields {
		if f.Tag == tag {
			return f.Value, true
		}
	}
	return "", false
}

// Sub returns the value of data object tag inside template, e.g.
// Sub("43", "00") is the Mercado Pago GUI.
func (p *Payload) Sub(template, tag string) (string, bool) {
	for _, f := range p.Fields {
		if f.Tag != template {
			continue
		}
		for _, s := range f.Sub {
			if s.Tag == tag {
				return s.Value, true
			}
		}
		return "", false
	}
	return "", false
}

// PointOfInitiation returns tag 01: "11" for a static (reusable) QR, "12"
// for a dynamic (one order) QR, "" when absent.
func (p *Payload) PointOfInitiation() string {
	v, _ := p.Get("01")
	return v
}

// String re-encodes the top-level fields from their Values. For a payload
// Parse returned it is the parsed string.
func (p *Payload) String() string {
	var b strings.Builder
	for _, f := range p.Fields {
		b.WriteString(f.Tag)
		writeLen(&b, utf8.RuneCountInString(f.Value))
		b.WriteString(f.Value)
	}
	return b.String()
}

// Parse reads and checks a payload; see the package documentation for the
// rules.
func Parse(s string) (*Payload, error) {
	p := &Payload{Fields: make([]Field, 0, 16)}
	if err := parse(s, p); err != nil {
		return nil, err
	}
	return p, nil
}

// Check applies Parse's rules without keeping the result, and without
// allocating when the payload is good.
func Check(s string) error {
	return parse(s, nil)
}

// parse checks s and, when p is not nil, fills p.Fields.
func parse(s string, p *Payload) error {
	if s == "" {
		return &Error{Offset: -1, Reason: "empty payload"}
	}
	n, err := checkChars(s)
	if err != nil {
		return err
	}
	if n > MaxLen {
		return &Error{Offset: -1, Reason: fmt.Sprintf("payload has %d characters, more than %d", n, MaxLen)}
	}
	sc := scanner{s: s}
	crcStart := -1 // byte index of tag 63's value
	for i := 0; !sc.done(); i++ {
		at := sc.char
		tag, value, err := sc.next()
		if err != nil {
			return err
		}
		switch {
		case i == 0 && tag != "00":
			return &Error{Offset: at, Tag: tag, Reason: "payload must start with tag 00 (payload format indicator)"}
		case i == 0 && value != "01":
			return &Error{Offset: at, Tag: tag, Reason: fmt.Sprintf("payload format indicator must be \"01\", got %q", value)}
		case i > 0 && tag == "00":
			return &Error{Offset: at, Tag: tag, Reason: "tag 00 repeated"}
		case tag == "63" && !sc.done():
			return &Error{Offset: at, Tag: tag, Reason: "CRC (tag 63) is not the last data object"}
		case tag == "63" && utf8.RuneCountInString(value) != 4:
			return &Error{Offset: at, Tag: tag, Reason: fmt.Sprintf("CRC (tag 63) must have length 04, got %02d", utf8.RuneCountInString(value))}
		case tag == "63":
			crcStart = sc.pos - len(value)
		}
		if p != nil {
			f := Field{Tag: tag, Value: value}
			if isTemplate(tag) {
				f.Sub = parseTemplate(value)
			}
			p.Fields = append(p.Fields, f)
		}
	}
	if crcStart < 0 {
		return &Error{Offset: -1, Reason: "missing CRC (tag 63) at the end"}
	}
	said := s[crcStart:]
	want, ok := parseHex4(said)
	if !ok {
		return &Error{Offset: n - 8, Tag: "63", Reason: fmt.Sprintf("CRC %q is not 4 hex digits", said)}
	}
	if got := CRC16(s[:crcStart]); got != want {
		return &Error{Offset: -1, Reason: fmt.Sprintf("CRC mismatch: payload says %s, computed %04X", said, got)}
	}
	return nil
}

// checkChars counts the characters of s and refuses invalid UTF-8 and
// control characters, which no QR payload carries and which would make
// offsets and terminal output lie.
func checkChars(s string) (int, error) {
	n := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return 0, &Error{Offset: n, Reason: fmt.Sprintf("control character %#02x", c)}
			}
			i++
			n++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return 0, &Error{Offset: n, Reason: "invalid UTF-8"}
		}
		if r >= 0x80 && r < 0xa0 {
			return 0, &Error{Offset: n, Reason: fmt.Sprintf("control character %U", r)}
		}
		i += size
		n++
	}
	return n, nil
}

// scanner walks data objects; pos is a byte index, char the same place in
// characters.
type scanner struct {
	s    string
	pos  int
	char int
}

func (sc *scanner) done() bool { return sc.pos >= len(sc.s) }

func (sc *scanner) next() (tag, value string, err error) {
	at := sc.char
	rest := sc.s[sc.pos:]
	if len(rest) < 4 {
		return "", "", &Error{Offset: at, Reason: fmt.Sprintf("truncated: %d characters left, want a 2-digit tag and a 2-digit length", utf8.RuneCountInString(rest))}
	}
	tag = rest[:2]
	if !isDigits(tag) {
		return "", "", &Error{Offset: at, Reason: fmt.Sprintf("tag %q is not two digits", prefixRunes(rest, 2))}
	}
	lenText := rest[2:4]
	if !isDigits(lenText) {
		return "", "", &Error{Offset: at, Tag: tag, Reason: fmt.Sprintf("length %q is not two decimal digits", prefixRunes(rest[2:], 2))}
	}
	n := int(lenText[0]-'0')*10 + int(lenText[1]-'0')
	body := rest[4:]
	end := 0
	for k := 0; k < n; k++ {
		if end >= len(body) {
			return "", "", &Error{Offset: at, Tag: tag, Reason: fmt.Sprintf("truncated: length %02d but only %d characters left", n, k)}
		}
		if body[end] < utf8.RuneSelf {
			end++
		} else {
			_, size := utf8.DecodeRuneInString(body[end:])
			end += size
		}
	}
	sc.pos += 4 + end
	sc.char += 4 + n
	return tag, body[:end], nil
}

// parseTemplate reads the data objects inside a template value, or returns
// nil when the value is not well-formed TLV.
func parseTemplate(v string) []Field {
	if v == "" {
		return nil
	}
	sc := scanner{s: v}
	var out []Field
	for !sc.done() {
		tag, value, err := sc.next()
		if err != nil {
			return nil
		}
		out = append(out, Field{Tag: tag, Value: value})
	}
	return out
}

// isTemplate reports whether tag holds nested data objects: merchant
// account information (26-51), additional data (62), merchant information
// in an alternate language (64) and unreserved templates (80-99).
func isTemplate(tag string) bool {
	n, err := strconv.Atoi(tag)
	if err != nil {
		return false
	}
	return n >= 26 && n <= 51 || n == 62 || n == 64 || n >= 80 && n <= 99
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// prefixRunes returns the first n characters of s (fewer if s is shorter),
// so an error never quotes half a character.
func prefixRunes(s string, n int) string {
	i := 0
	for k := 0; k < n && i < len(s); k++ {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return s[:i]
}

func parseHex4(s string) (uint16, bool) {
	if len(s) != 4 {
		return 0, false
	}
	var v uint16
	for i := 0; i < 4; i++ {
		c := s[i]
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		default:
			return 0, false
		}
		v = v<<4 | uint16(d)
	}
	return v, true
}

func writeLen(b *strings.Builder, n int) {
	b.WriteByte(byte('0' + n/10%10))
	b.WriteByte(byte('0' + n%10))
}
