package isoduration

import (
	"errors"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	good := map[string]time.Duration{
		"PT15M": 15 * time.Minute, "PT30S": 30 * time.Second, "PT1H": time.Hour,
		"P1D": 24 * time.Hour, "P1DT2H3M4S": 26*time.Hour + 3*time.Minute + 4*time.Second,
		"P2W": 14 * 24 * time.Hour, "PT0.5S": 500 * time.Millisecond, "PT3600H": 3600 * time.Hour,
		"PT16M": 16 * time.Minute,
	}
	for in, want := range good {
		if got, err := Parse(in); err != nil || got != want {
			t.Errorf("Parse(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "P", "PT", "15M", "PT15", "P1Y", "P1M", "PT1M1H", "P1DT", "PTM", "PT-1M",
		"PT1.S", "PT.5S", "pt15m", "PT15M ", "P1D1W", "PT1HT1M", "PT99999999999H", "P20000W", "P5000WT900000H", "PT9999999999999S"} {
		if got, err := Parse(in); err == nil || !errors.Is(err, ErrSyntax) {
			t.Errorf("Parse(%q) = %v, %v; want ErrSyntax", in, got, err)
		}
	}
}

func TestFormatRoundTrip(t *testing.T) {
	for _, d := range []time.Duration{time.Second, 15 * time.Minute, 90 * time.Minute, 3600 * time.Hour, time.Hour + 30*time.Second} {
		got, err := Parse(Format(d))
		if err != nil || got != d {
			t.Errorf("%v -> %q -> %v, %v", d, Format(d), got, err)
		}
	}
	if Format(15*time.Minute) != "PT15M" {
		t.Fatal(Format(15 * time.Minute))
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"PT15M", "P1DT2H", "PT0.5S", "P2W"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := Parse(s)
		if err == nil && d < 0 {
			t.Fatalf("negative duration %v from %q", d, s)
		}
	})
}
