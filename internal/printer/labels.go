package printer

import "strings"

// labels are the fixed words on a receipt in the receipt's language.
type labels struct {
	total, scan, order, sale, expires, test, testLine string
	timeLayout                                        string
}

// labelsFor picks by the language part of locale (configs/posagent.yaml
// locales); anything but Spanish or Portuguese gets English.
func labelsFor(locale string) labels {
	lang, _, _ := strings.Cut(locale, "-")
	switch lang {
	case "es":
		scan := "Escanea el QR para pagar" // tú, as the customer display speaks
		if locale == "es-AR" || locale == "es-UY" {
			scan = "Escaneá el QR para pagar" // Rioplatense vos, as the display
		}
		return labels{
			total: "Total", scan: scan, order: "Orden", sale: "Venta",
			expires: "Vence", test: "Impresión de prueba",
			testLine:   "Acentos: ñ Ñ á é í ó ú ü ç ã õ ¿ ¡ €",
			timeLayout: "02/01/2006 15:04",
		}
	case "pt":
		return labels{
			total: "Total", scan: "Escaneie o QR para pagar", order: "Pedido", sale: "Venda",
			expires: "Válido até", test: "Impressão de teste",
			testLine:   "Acentos: ç ã õ á é í ó ú â ê ô à ñ ¿ €",
			timeLayout: "02/01/2006 15:04",
		}
	}
	return labels{
		total: "Total", scan: "Scan the QR code to pay", order: "Order", sale: "Sale",
		expires: "Expires", test: "Test print",
		testLine:   "Accents: ñ á é í ó ú ç ã õ ¿ ¡ €",
		timeLayout: "2006-01-02 15:04",
	}
}
