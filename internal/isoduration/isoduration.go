// Package isoduration provides parsing of ISO 8601 durations such as
// "PT15M" or "P1DT2H", the form the Orders API takes for expiration_time.
//
// The standard library has no ISO 8601 duration parser and the Orders API
// only needs the day-and-time subset, so it is written here. Years and
// months are refused: they have no fixed length, and the API bounds
// expiration_time by hours (30 s to 3600 h).
package isoduration

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrSyntax is wrapped by every Parse error.
var ErrSyntax = errors.New("not an ISO 8601 duration")

// maxDuration bounds what Parse accepts: far beyond any expiration_time
// the API takes (3600 h), and far from time.Duration's overflow.
const maxDuration = 100 * 365 * 24 * time.Hour

func unitSize(unit byte) time.Duration {
	switch unit {
	case 'W':
		return 7 * 24 * time.Hour
	case 'D':
		return 24 * time.Hour
	case 'H':
		return time.Hour
	}
	return time.Minute
}

// Parse reads "P[nW][nD][T[nH][nM][nS]]" with whole numbers (seconds may
// have a fraction), e.g. "PT15M", "PT30S", "P1DT12H", "P2W".
func Parse(s string) (time.Duration, error) {
	bad := func(why string) (time.Duration, error) {
		return 0, fmt.Errorf("%w (%s; e.g. PT15M): %q", ErrSyntax, why, s)
	}
	rest, ok := strings.CutPrefix(s, "P")
	if !ok {
		return bad("must start with P")
	}
	if rest == "" || rest == "T" {
		return bad("no components")
	}
	var total time.Duration
	inTime := false
	order := "WD"
	for rest != "" {
		if rest[0] == 'T' {
			if inTime {
				return bad("second T")
			}
			inTime, order, rest = true, "HMS", rest[1:]
			if rest == "" {
				return bad("T without a time")
			}
			continue
		}
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.') {
			i++
		}
		if i == 0 || i == len(rest) {
			return bad("want a number followed by a unit")
		}
		num, unit := rest[:i], rest[i]
		rest = rest[i+1:]
		pos := strings.IndexByte(order, unit)
		if pos < 0 {
			if unit == 'Y' || (unit == 'M' && !inTime) {
				return bad("years and months have no fixed length")
			}
			return bad(fmt.Sprintf("unit %q out of place", unit))
		}
		order = order[pos+1:]
		var d time.Duration
		if unit == 'S' {
			f, err := strconv.ParseFloat(num, 64)
			if err != nil || strings.HasPrefix(num, ".") || strings.HasSuffix(num, ".") {
				return bad("bad seconds")
			}
			if f > maxDuration.Seconds() {
				return bad("too long")
			}
			d = time.Duration(f * float64(time.Second))
		} else {
			n, err := strconv.ParseInt(num, 10, 64)
			size := unitSize(unit)
			if err != nil || n > int64(maxDuration/size) {
				return bad("bad or too large number")
			}
			d = time.Duration(n) * size
		}
		if total > maxDuration-d {
			return bad("too long")
		}
		total += d
	}
	return total, nil
}

// Format writes d as an ISO 8601 duration in hours, minutes and seconds
// ("PT15M", "PT1H0M30S" is written "PT1H30S"); zero is "PT0S".
func Format(d time.Duration) string {
	if d <= 0 {
		return "PT0S"
	}
	var b strings.Builder
	b.WriteString("PT")
	h := d / time.Hour
	d -= h * time.Hour
	m := d / time.Minute
	d -= m * time.Minute
	if h > 0 {
		fmt.Fprintf(&b, "%dH", h)
	}
	if m > 0 {
		fmt.Fprintf(&b, "%dM", m)
	}
	if d > 0 {
		b.WriteString(strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "S")
	}
	return b.String()
}
