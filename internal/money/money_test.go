package money

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestParse(t *testing.T) {
	good := map[string]Cents{
		"0": 0, "0.00": 0, "1": 100, "12.5": 1250, "12.50": 1250, "150.00": 15000,
		"0.01": 1, "9999999999.99": 999999999999, "1234.05": 123405,
	}
	for in, want := range good {
		got, err := Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	bad := []string{"", " 1", "1 ", "-1", "+1", "1e3", "01", "00.5", "1.", ".5", "1.234",
		"12345678901", "1,50", "NaN", "Inf", "１", "0x10", "1.5.0"}
	for _, in := range bad {
		if got, err := Parse(in); err == nil || !errors.Is(err, ErrSyntax) {
			t.Errorf("Parse(%q) = %d, %v; want ErrSyntax", in, got, err)
		}
	}
}

func TestParsePositive(t *testing.T) {
	for _, in := range []string{"0", "0.0", "0.00"} {
		if _, err := ParsePositive(in); err == nil {
			t.Errorf("ParsePositive(%q) accepted zero", in)
		}
	}
	if c, err := ParsePositive("0.01"); err != nil || c != 1 {
		t.Errorf("ParsePositive(0.01) = %d, %v", c, err)
	}
}

func TestStringAndJSON(t *testing.T) {
	for c, want := range map[Cents]string{0: "0.00", 1: "0.01", 1250: "12.50", 100: "1.00", -5: "-0.05"} {
		if got := c.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int64(c), got, want)
		}
	}
	var v struct{ A Cents }
	if err := json.Unmarshal([]byte(`{"A":"12.5"}`), &v); err != nil || v.A != 1250 {
		t.Fatalf("unmarshal: %v %d", err, v.A)
	}
	if err := json.Unmarshal([]byte(`{"A":12.5}`), &v); err == nil {
		t.Fatal("a JSON number was accepted as money")
	}
	b, _ := json.Marshal(v)
	if string(b) != `{"A":"12.50"}` {
		t.Fatalf("marshal: %s", b)
	}
	if n, err := Normalize("7.1"); err != nil || n != "7.10" {
		t.Fatalf("Normalize: %q %v", n, err)
	}
}

func TestFormat(t *testing.T) {
	cases := []struct {
		c      Cents
		locale string
		want   string
	}{
		{123450, "es-AR", "$ 1.234,50"},
		{123450, "pt-BR", "R$ 1.234,50"},
		{123400, "es-CL", "$ 1.234"},
		{123450, "es-CL", "$ 1.235"},
		{5, "es-AR", "$ 0,05"},
		{100000000, "es-MX", "$ 1,000,000.00"},
		{99900, "es-PE", "S/ 999.00"},
		{15000, "en", "$ 150.00"},
		{15000, "xx-YY", "$ 150.00"},
	}
	for _, c := range cases {
		if got := Format(c.c, c.locale); got != c.want {
			t.Errorf("Format(%d, %s) = %q, want %q", int64(c.c), c.locale, got, c.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"12.50", "0", "1e3", "-1", "9999999999.99"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Parse(s)
		if err != nil {
			return
		}
		back, err := Parse(c.String())
		if err != nil || back != c {
			t.Fatalf("round trip %q -> %d -> %q -> %d, %v", s, int64(c), c.String(), int64(back), err)
		}
	})
}
