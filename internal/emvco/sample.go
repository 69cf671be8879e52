package emvco

import "strings"

// sampleSite is where a store of a locale sells: its EMVCo country code,
// ISO 4217 numeric currency and a city for the merchant fields.
type sampleSite struct{ country, currency, city string }

var sampleSites = map[string]sampleSite{
	"AR": {"AR", "032", "CABA"},
	"BR": {"BR", "986", "SAO PAULO"},
	"CL": {"CL", "152", "SANTIAGO"},
	"UY": {"UY", "858", "MONTEVIDEO"},
	"MX": {"MX", "484", "CIUDAD DE MEXICO"},
	"PE": {"PE", "604", "LIMA"},
	"CO": {"CO", "170", "BOGOTA"},
}

// Sample returns a payload shaped like a Mercado Pago dynamic order's
// (same templates, a comparable length, a valid CRC) for the country of a
// store's locale ("es-AR" -> Argentina, pesos), for test screens and test
// receipts: what a device test shows must look like what the store's
// customers will see. A locale without a country ("en") gets Argentina's.
// It is not a payable order.
func Sample(locale string) string {
	_, region, _ := strings.Cut(locale, "-")
	site, ok := sampleSites[strings.ToUpper(region)]
	if !ok {
		site = sampleSites["AR"]
	}
	// Fixed fields well within the limits: Encode cannot fail on them
	// (TestSample checks every site).
	body, _ := Encode(
		Field{Tag: "00", Value: "01"},
		Field{Tag: "01", Value: "12"},
		Field{Tag: "43", Sub: []Field{
			{Tag: "00", Value: "COM.MERCADOLIBRE"},
			{Tag: "02", Value: "3"},
			{Tag: "06", Value: "cd8fce34-5045-43f2-96ff-ab36b717bbad"},
		}},
		Field{Tag: "52", Value: "0000"},
		Field{Tag: "53", Value: site.currency},
		Field{Tag: "58", Value: site.country},
		Field{Tag: "59", Value: "Test Test"},
		Field{Tag: "60", Value: site.city},
		Field{Tag: "62", Sub: []Field{{Tag: "05", Value: "***"}}},
	)
	return WithCRC(body)
}
