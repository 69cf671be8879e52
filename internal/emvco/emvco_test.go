package emvco

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

// samples reads the real payloads from testdata: the dynamic one first,
// then the static one.
func samples(t testing.TB) (dynamic, static string) {
	t.Helper()
	f, err := os.Open("testdata/qr_data_samples.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
			got = append(got, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("testdata has %d payloads, want 2", len(got))
	}
	return got[0], got[1]
}

func TestParseSamples(t *testing.T) {
	dynamic, static := samples(t)
	tests := []struct {
		name    string
		payload string
		poi     string
		want    map[[2]string]string // {template, tag} -> value; template "" = top level
	}{
		{"dynamic", dynamic, "12", map[[2]string]string{
			{"43", "00"}: "COM.MERCADOLIBRE",
			{"43", "02"}: "3",
			{"43", "06"}: "cd8fce34-5045-43f2-96ff-ab36b717bbad",
			{"62", "05"}: "***",
			{"", "53"}:   "986",
			{"", "58"}:   "BR",
			{"", "59"}:   "Test Test",
			{"", "60"}:   "SAO PAULO",
			{"", "63"}:   "5742",
		}},
		{"static", static, "11", map[[2]string]string{
			{"43", "00"}: "com.mercadolibre",
			{"43", "01"}: "https://mpago.la/pos/1043915",
			{"50", "00"}: "123456789",
			{"", "52"}:   "9700",
			{"", "53"}:   "032",
			{"", "58"}:   "AR",
			{"", "59"}:   "FULL NAME",
			{"", "60"}:   "CITY LEGAL",
			{"", "63"}:   "0AAB",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse(tt.payload)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if err := Check(tt.payload); err != nil {
				t.Errorf("Check: %v", err)
			}
			if got := p.PointOfInitiation(); got != tt.poi {
				t.Errorf("PointOfInitiation = %q, want %q", got, tt.poi)
			}
			for k, want := range tt.want {
				var got string
				var ok bool
				if k[0] == "" {
					got, ok = p.Get(k[1])
				} else {
					got, ok = p.Sub(k[0], k[1])
				}
				if !ok || got != want {
					t.Errorf("%s/%s = %q, %v; want %q", k[0], k[1], got, ok, want)
				}
			}
			if got := p.String(); got != tt.payload {
				t.Errorf("String() = %q, want the input back", got)
			}
			if last := p.Fields[len(p.Fields)-1]; last.Tag != "63" {
				t.Errorf("last field is %s, want 63", last.Tag)
			}
		})
	}
}

func TestParseAbsent(t *testing.T) {
	_, static := samples(t)
	p, err := Parse(static)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := p.Get("62"); ok {
		t.Errorf("Get(62) = %q, true; the static sample has no 62", v)
	}
	if v, ok := p.Sub("43", "06"); ok {
		t.Errorf("Sub(43, 06) = %q, true; want absent", v)
	}
	if v, ok := p.Sub("99", "00"); ok {
		t.Errorf("Sub(99, 00) = %q, true; want absent", v)
	}
	empty := &Payload{}
	if got := empty.PointOfInitiation(); got != "" {
		t.Errorf("PointOfInitiation of an empty payload = %q", got)
	}
}

func TestParseErrors(t *testing.T) {
	dynamic, static := samples(t)
	body := strings.TrimSuffix(dynamic, "63045742")
	tests := []struct {
		name    string
		payload string
		want    string // substring of the error
	}{
		{"empty", "", "emvco: empty payload"},
		{"truncated value", dynamic[:100], "truncated: length 02 but only 0 characters left (offset 96, tag 58)"},
		{"truncated header", "0002010", "truncated: 1 characters left, want a 2-digit tag and a 2-digit length (offset 6)"},
		{"truncated first value", "00020", "truncated: length 02 but only 1 characters left (offset 0, tag 00)"},
		{"truncated before CRC value", body + "6304AB", "truncated: length 04 but only 2 characters left (offset 139, tag 63)"},
		{"non-digit length", WithCRC("000201010212" + "53X3986"), `length "X3" is not two decimal digits (offset 12, tag 53)`},
		{"non-digit tag", WithCRC("000201A102"), `tag "A1" is not two digits (offset 6)`},
		{"bad CRC", body + "63045743", "emvco: CRC mismatch: payload says 5743, computed 5742"},
		{"CRC not hex", body + "6304574G", `CRC "574G" is not 4 hex digits (offset 139, tag 63)`},
		{"missing 00", WithCRC("010212"), "payload must start with tag 00 (payload format indicator) (offset 0, tag 01)"},
		{"00 not 01", WithCRC("000202010212"), `payload format indicator must be "01", got "02"`},
		{"00 repeated", WithCRC("000201010212000201"), "tag 00 repeated (offset 12, tag 00)"},
		{"63 not last", body + "63045742" + "5802BR", "CRC (tag 63) is not the last data object (offset 139, tag 63)"},
		{"63 short", body + "6303574", "CRC (tag 63) must have length 04, got 03"},
		{"63 missing", "000201010212", "missing CRC (tag 63) at the end"},
		{"control character", WithCRC("0002010102125903A\nB"), "control character 0x0a (offset 17)"},
		{"invalid UTF-8", WithCRC("0002010102125903A\xffB"), "invalid UTF-8 (offset 17)"},
		{"C1 control", WithCRC("0002010102125903A\u0085B"), "control character U+0085"},
		{"too long", WithCRC("000201010212" + strings.Repeat("8099"+strings.Repeat("x", 99), 5)), "more than 512"},
		{"lowercase tampered", strings.Replace(static, "0AAB", "0aac", 1), "payload says 0aac, computed 0AAB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse(tt.payload)
			if err == nil {
				t.Fatalf("Parse(%q) = %v, nil; want an error", tt.payload, p.Fields)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse error = %q, want it to contain %q", err, tt.want)
			}
			if p != nil {
				t.Errorf("Parse returned a payload with its error")
			}
			cerr := Check(tt.payload)
			if cerr == nil || cerr.Error() != err.Error() {
				t.Errorf("Check error = %v, want the same as Parse: %v", cerr, err)
			}
		})
	}
}

func TestLowercaseCRCAccepted(t *testing.T) {
	_, static := samples(t)
	lower := strings.Replace(static, "63040AAB", "63040aab", 1)
	if err := Check(lower); err != nil {
		t.Fatalf("Check(lowercase CRC) = %v, want nil", err)
	}
}

func TestLengthCountsCharacters(t *testing.T) {
	// "JOSÉ" is 4 characters and 5 bytes.
	good := WithCRC("0002010102125904JOSÉ")
	p, err := Parse(good)
	if err != nil {
		t.Fatalf("Parse(4-character UTF-8 name) = %v", err)
	}
	if v, _ := p.Get("59"); v != "JOSÉ" {
		t.Errorf("59 = %q, want JOSÉ", v)
	}
	if p.String() != good {
		t.Errorf("String() = %q, want %q", p.String(), good)
	}
	byteCounted := WithCRC("0002010102125905JOSÉ")
	if err := Check(byteCounted); err == nil {
		t.Errorf("Check(length counted in bytes) = nil, want an error")
	}
}

func TestTemplates(t *testing.T) {
	// 26 is a well-formed template, 27 is not TLV, 52 is not a template.
	payload := WithCRC("000201010211" + "26080004ABCD" + "2703xyz" + "52040000")
	p, err := Parse(payload)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := p.Sub("26", "00"); !ok || v != "ABCD" {
		t.Errorf("Sub(26, 00) = %q, %v", v, ok)
	}
	for _, f := range p.Fields {
		switch f.Tag {
		case "27", "52":
			if f.Sub != nil {
				t.Errorf("tag %s: Sub = %v, want nil", f.Tag, f.Sub)
			}
		}
	}
	if v, _ := p.Get("27"); v != "xyz" {
		t.Errorf("27 = %q, want the raw value kept", v)
	}
}

func TestCRC16(t *testing.T) {
	tests := []struct {
		in   string
		want uint16
	}{
		{"", 0xFFFF},
		{"123456789", 0x29B1}, // the catalogue check value of CRC-16/CCITT-FALSE
		{"A", 0xB915},
	}
	for _, tt := range tests {
		if got := CRC16(tt.in); got != tt.want {
			t.Errorf("CRC16(%q) = %04X, want %04X", tt.in, got, tt.want)
		}
	}
}

func TestWithCRCRebuildsSamples(t *testing.T) {
	dynamic, static := samples(t)
	for _, s := range []string{dynamic, static} {
		if got := WithCRC(s[:len(s)-8]); got != s {
			t.Errorf("WithCRC(body) = %q, want %q", got, s)
		}
	}
}

func TestEncode(t *testing.T) {
	body, err := Encode(
		Field{Tag: "00", Value: "01"},
		Field{Tag: "01", Value: "12"},
		Field{Tag: "43", Sub: []Field{{Tag: "00", Value: "COM.MERCADOLIBRE"}, {Tag: "02", Value: "3"}}},
		Field{Tag: "59", Value: "JOSÉ"},
	)
	if err != nil {
		t.Fatal(err)
	}
	if want := "000201" + "010212" + "4325" + "0016COM.MERCADOLIBRE" + "02013" + "5904JOSÉ"; body != want {
		t.Errorf("Encode = %q, want %q", body, want)
	}
	p, err := Parse(WithCRC(body))
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := p.Sub("43", "02"); v != "3" {
		t.Errorf("43/02 = %q", v)
	}
	bad := []Field{
		{Tag: "1", Value: "x"},
		{Tag: "AB", Value: "x"},
		{Tag: "59", Value: strings.Repeat("x", 100)},
		{Tag: "43", Sub: []Field{{Tag: "0", Value: "x"}}},
	}
	for _, f := range bad {
		if _, err := Encode(f); err == nil {
			t.Errorf("Encode(%+v) = nil error", f)
		}
	}
}

func FuzzParse(f *testing.F) {
	dynamic, static := samples(f)
	f.Add(dynamic)
	f.Add(static)
	f.Add(WithCRC("0002010102125904JOSÉ"))
	f.Add(WithCRC("000201010211" + "26080004ABCD" + "2703xyz"))
	f.Add("00020101021163041D3A")
	f.Add(dynamic[:50])
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Parse(s)
		cerr := Check(s)
		if (err == nil) != (cerr == nil) {
			t.Fatalf("Parse error %v but Check error %v", err, cerr)
		}
		if err != nil {
			return
		}
		if got := p.String(); got != s {
			t.Fatalf("re-encoding gives %q, want %q", got, s)
		}
		if len(p.Fields) < 2 || p.Fields[0].Tag != "00" || p.Fields[len(p.Fields)-1].Tag != "63" {
			t.Fatalf("fields %v: want 00 first and 63 last", p.Fields)
		}
		for _, fl := range p.Fields {
			if fl.Sub == nil {
				continue
			}
			enc, err := Encode(fl.Sub...)
			if err != nil || enc != fl.Value {
				t.Fatalf("template %s: Sub re-encodes to %q, %v; want %q", fl.Tag, enc, err, fl.Value)
			}
		}
	})
}

func BenchmarkCheck(b *testing.B) {
	dynamic, _ := samples(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := Check(dynamic); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	dynamic, _ := samples(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(dynamic); err != nil {
			b.Fatal(err)
		}
	}
}
