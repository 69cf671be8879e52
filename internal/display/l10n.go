package display

import (
	"fmt"
	"strings"
)

// texts are the fixed words of the customer display in one language.
type texts struct {
	Lang       string // BCP 47 language for the web page's lang attribute
	Welcome    string
	AmountDue  string
	Scan       string
	ExpiresIn  string // followed by a countdown
	ExpiresAt  string // followed by a wall-clock time
	Paid       string
	PaidSub    string
	Expired    string
	ExpiredSub string
	Canceled   string
	Error      string
	Total      string
	more       string // "+ %d more" cart lines that do not fit
}

// More is the line that stands for n cart lines that did not fit.
func (t texts) More(n int) string { return fmt.Sprintf(t.more, n) }

// spanish is neutral Spanish (tú), the base of every Spanish locale.
func spanish() texts {
	return texts{
		Lang: "es", Welcome: "¡Bienvenido!", AmountDue: "Total a pagar",
		Scan: "Escanea con Mercado Pago", ExpiresIn: "Vence en", ExpiresAt: "Vence a las",
		Paid: "¡Pago aprobado!", PaidSub: "Gracias por tu compra",
		Expired: "El código QR venció", ExpiredSub: "Pide uno nuevo en la caja",
		Canceled: "Pago cancelado", Error: "No pudimos procesar el pago",
		Total: "Total", more: "y %d más…",
	}
}

// voseo is Rioplatense Spanish (Argentina, Uruguay): neutral Spanish with
// its two imperatives in vos.
func voseo() texts {
	t := spanish()
	t.Scan = "Escaneá con Mercado Pago"
	t.ExpiredSub = "Pedí uno nuevo en la caja"
	return t
}

func portuguese() texts {
	return texts{
		Lang: "pt-BR", Welcome: "Bem-vindo!", AmountDue: "Total a pagar",
		Scan: "Escaneie com o Mercado Pago", ExpiresIn: "Expira em", ExpiresAt: "Expira às",
		Paid: "Pagamento aprovado!", PaidSub: "Obrigado pela sua compra",
		Expired: "O código QR expirou", ExpiredSub: "Peça um novo no caixa",
		Canceled: "Pagamento cancelado", Error: "Não foi possível processar o pagamento",
		Total: "Total", more: "e mais %d…",
	}
}

func english() texts {
	return texts{
		Lang: "en", Welcome: "Welcome!", AmountDue: "Amount due",
		Scan: "Scan with Mercado Pago", ExpiresIn: "Expires in", ExpiresAt: "Expires at",
		Paid: "Payment approved!", PaidSub: "Thank you for your purchase",
		Expired: "QR code expired", ExpiredSub: "Ask the cashier for a new one",
		Canceled: "Payment canceled", Error: "Something went wrong",
		Total: "Total", more: "and %d more…",
	}
}

// textsFor picks the words for a configured locale (see `locale` in
// configs/posagent.yaml); other
// Spanish or Portuguese tags fall back by language, anything else to English.
func textsFor(locale string) texts {
	switch {
	case locale == "es-AR" || locale == "es-UY":
		return voseo()
	case locale == "es" || strings.HasPrefix(locale, "es-"):
		return spanish()
	case locale == "pt" || strings.HasPrefix(locale, "pt-"):
		return portuguese()
	}
	return english()
}
