// Package money provides amounts of money as integer cents parsed from and
// printed as the decimal strings the register and the Orders API exchange.
//
// Money never passes through a float: a float64 cannot hold 0.10 exactly,
// and a rounding error on a receipt is a lost sale. The wire format is the
// one docs/protocol.md pins for total_amount: `^(0|[1-9][0-9]{0,9})(\.[0-9]{1,2})?$`.
package money

import (
	"errors"
	"fmt"
	"strings"
)

// Cents is an amount of money in hundredths of the currency unit.
type Cents int64

// MaxDigits is the most integer digits an amount may have.
const MaxDigits = 10

// ErrSyntax is wrapped by every Parse error: the text is not a plain
// decimal amount.
var ErrSyntax = errors.New("not a decimal amount")

// Parse reads a non-negative decimal amount such as "12", "12.5" or
// "12.50". It refuses signs, spaces, exponents, leading zeros, more than two
// decimals and more than ten integer digits.
func Parse(s string) (Cents, error) {
	if s == "" {
		return 0, fmt.Errorf("%w: empty", ErrSyntax)
	}
	intPart, frac, hasDot := strings.Cut(s, ".")
	if intPart == "" || len(intPart) > MaxDigits || !digits(intPart) {
		return 0, fmt.Errorf("%w: want digits, at most two decimals (e.g. 150.00), got %q", ErrSyntax, s)
	}
	if len(intPart) > 1 && intPart[0] == '0' {
		return 0, fmt.Errorf("%w: leading zero in %q", ErrSyntax, s)
	}
	if hasDot && (len(frac) < 1 || len(frac) > 2 || !digits(frac)) {
		return 0, fmt.Errorf("%w: at most two decimals, got %q", ErrSyntax, s)
	}
	var c int64
	for _, r := range intPart {
		c = c*10 + int64(r-'0')
	}
	c *= 100
	switch len(frac) {
	case 1:
		c += int64(frac[0]-'0') * 10
	case 2:
		c += int64(frac[0]-'0')*10 + int64(frac[1]-'0')
	}
	return Cents(c), nil
}

// ParsePositive is Parse that also refuses zero.
func ParsePositive(s string) (Cents, error) {
	c, err := Parse(s)
	if err != nil {
		return 0, err
	}
	if c <= 0 {
		return 0, fmt.Errorf("must be positive, got %q", s)
	}
	return c, nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// String is the amount with exactly two decimals, as the Orders API wants
// it: 1250 -> "12.50".
func (c Cents) String() string {
	sign := ""
	if c < 0 {
		sign = "-"
		c = -c
	}
	return fmt.Sprintf("%s%d.%02d", sign, int64(c)/100, int64(c)%100)
}

// MarshalText writes String, so Cents travels in JSON as a string.
func (c Cents) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText accepts what Parse accepts.
func (c *Cents) UnmarshalText(b []byte) error {
	v, err := Parse(string(b))
	if err != nil {
		return err
	}
	*c = v
	return nil
}

// Normalize returns s with exactly two decimals ("12.5" -> "12.50"), or the
// Parse error.
func Normalize(s string) (string, error) {
	c, err := Parse(s)
	if err != nil {
		return "", err
	}
	return c.String(), nil
}
