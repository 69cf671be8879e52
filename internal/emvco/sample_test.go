package emvco

import "testing"

func TestSample(t *testing.T) {
	for locale, want := range map[string][2]string{
		"es-AR": {"AR", "032"}, "pt-BR": {"BR", "986"}, "es-CL": {"CL", "152"}, "es-UY": {"UY", "858"},
		"es-MX": {"MX", "484"}, "es-PE": {"PE", "604"}, "es-CO": {"CO", "170"}, "en": {"AR", "032"},
	} {
		s := Sample(locale)
		p, err := Parse(s)
		if err != nil {
			t.Fatalf("Sample(%q) = %q: %v", locale, s, err)
		}
		country, _ := p.Get("58")
		currency, _ := p.Get("53")
		if country != want[0] || currency != want[1] {
			t.Errorf("Sample(%q): country %q currency %q, want %v", locale, country, currency, want)
		}
		if mp, _ := p.Sub("43", "00"); mp != "COM.MERCADOLIBRE" {
			t.Errorf("Sample(%q): merchant account %q", locale, mp)
		}
	}
}
