package printer

import (
	"strings"
	"testing"
)

// One voice per locale across screen and receipt: Rioplatense Spanish
// (es-AR, es-UY) speaks with vos ("Escaneá"), the other Spanish locales
// with tú ("Escanea"), as the customer display does (internal/display's
// TestScreenVoice holds the same table).
func TestReceiptVoice(t *testing.T) {
	for locale, verb := range map[string]string{
		"es-AR": "Escaneá ", "es-UY": "Escaneá ", "es-MX": "Escanea ", "es-CL": "Escanea ",
		"es-PE": "Escanea ", "es-CO": "Escanea ", "pt-BR": "Escaneie ", "en": "Scan ",
	} {
		if got := labelsFor(locale).scan; !strings.HasPrefix(got, verb) {
			t.Errorf("%s receipt says %q, want it to start with %q", locale, got, verb)
		}
	}
}
