package emvco

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// CRC16 returns the CRC-16/CCITT-FALSE (polynomial 0x1021, initial value
// 0xFFFF, no reflection, no final XOR) of the bytes of data: the checksum
// EMVCo puts in tag 63.
func CRC16(data string) uint16 {
	crc := uint16(0xFFFF)
	for i := 0; i < len(data); i++ {
		crc ^= uint16(data[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// WithCRC completes a payload: body is everything before the CRC data
// object, and the result is body + "6304" + the CRC of both as four
// uppercase hex digits.
func WithCRC(body string) string {
	head := body + "6304"
	return fmt.Sprintf("%s%04X", head, CRC16(head))
}

// Encode writes fields as TLV. A field with an empty Value and a non-empty
// Sub is a template whose value is encoded from Sub. It refuses a tag that
// is not two digits and a value longer than 99 characters, the most a
// 2-digit length can say. Encode does not add the CRC: pass the result to
// WithCRC.
func Encode(fields ...Field) (string, error) {
	var b strings.Builder
	for _, f := range fields {
		if len(f.Tag) != 2 || !isDigits(f.Tag) {
			return "", fmt.Errorf("emvco: encode: tag %q is not two digits", f.Tag)
		}
		v := f.Value
		if v == "" && len(f.Sub) > 0 {
			var err error
			if v, err = Encode(f.Sub...); err != nil {
				return "", fmt.Errorf("emvco: encode: template %s: %w", f.Tag, err)
			}
		}
		n := utf8.RuneCountInString(v)
		if n > 99 {
			return "", fmt.Errorf("emvco: encode: tag %s: value has %d characters, at most 99 fit", f.Tag, n)
		}
		b.WriteString(f.Tag)
		writeLen(&b, n)
		b.WriteString(v)
	}
	return b.String(), nil
}
