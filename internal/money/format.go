package money

import (
	"strconv"
	"strings"
)

// Style says how one locale writes an amount of its currency.
type Style struct {
	Symbol   string // "$", "R$", "S/"
	Thousand string // "." in es-AR
	Decimal  string // "," in es-AR
	Decimals int    // 2, or 0 for currencies without cents (CLP, COP)
}

// styles are the locales configs/posagent.yaml names, each with its
// currency's usual display form.
var styles = map[string]Style{
	"es-AR": {Symbol: "$", Thousand: ".", Decimal: ",", Decimals: 2},
	"pt-BR": {Symbol: "R$", Thousand: ".", Decimal: ",", Decimals: 2},
	"es-CL": {Symbol: "$", Thousand: ".", Decimal: ",", Decimals: 0},
	"es-UY": {Symbol: "$", Thousand: ".", Decimal: ",", Decimals: 2},
	"es-MX": {Symbol: "$", Thousand: ",", Decimal: ".", Decimals: 2},
	"es-PE": {Symbol: "S/", Thousand: ",", Decimal: ".", Decimals: 2},
	"es-CO": {Symbol: "$", Thousand: ".", Decimal: ",", Decimals: 0},
	"en":    {Symbol: "$", Thousand: ",", Decimal: ".", Decimals: 2},
}

// Locales lists the locales Format knows, for config validation.
func Locales() []string {
	return []string{"es-AR", "pt-BR", "es-CL", "es-UY", "es-MX", "es-PE", "es-CO", "en"}
}

// StyleFor returns the style of locale and whether it is known; an unknown
// locale gets the "en" style.
func StyleFor(locale string) (Style, bool) {
	s, ok := styles[locale]
	if !ok {
		return styles["en"], false
	}
	return s, true
}

// Format writes c for people in locale: "$ 1.234,50" (es-AR),
// "R$ 1.234,50" (pt-BR), "$ 1.234" (es-CL). Currencies without cents are
// rounded half up to whole units.
func Format(c Cents, locale string) string {
	st, _ := StyleFor(locale)
	neg := c < 0
	if neg {
		c = -c
	}
	units, cents := int64(c)/100, int64(c)%100
	if st.Decimals == 0 && cents >= 50 {
		units++
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	b.WriteString(st.Symbol)
	b.WriteByte(' ')
	digits := strconv.FormatInt(units, 10)
	for i, r := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteString(st.Thousand)
		}
		b.WriteRune(r)
	}
	if st.Decimals > 0 {
		b.WriteString(st.Decimal)
		b.WriteByte(byte('0' + cents/10))
		b.WriteByte(byte('0' + cents%10))
	}
	return b.String()
}
