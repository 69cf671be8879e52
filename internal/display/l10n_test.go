package display

import (
	"strings"
	"testing"
)

// One voice per locale across screen and receipt (internal/printer's
// TestReceiptVoice holds the same table).
func TestScreenVoice(t *testing.T) {
	for locale, verb := range map[string]string{
		"es-AR": "Escaneá ", "es-UY": "Escaneá ", "es-MX": "Escanea ", "es-CL": "Escanea ",
		"es-PE": "Escanea ", "es-CO": "Escanea ", "pt-BR": "Escaneie ", "en": "Scan ",
	} {
		if got := textsFor(locale).Scan; !strings.HasPrefix(got, verb) {
			t.Errorf("%s screen says %q, want it to start with %q", locale, got, verb)
		}
	}
}
