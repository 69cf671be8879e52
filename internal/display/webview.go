package display

import (
	"fmt"
	"strings"

	qrcode "github.com/skip2/go-qrcode"
)

// webMaxLines bounds the cart lines sent to a page: more do not fit on any
// screen, and the rest are summed up in More.
const webMaxLines = 30

// webView is what a page gets for one screen: every word already in the
// screen's language and every amount already formatted, so the page holds
// no translations and does no money arithmetic.
type webView struct {
	State State  `json:"state"`
	POS   string `json:"pos"`
	Lang  string `json:"lang"`
	Store string `json:"store_name,omitempty"`

	Welcome string `json:"welcome,omitempty"` // idle

	Lines      []webLine `json:"lines,omitempty"` // cart
	More       string    `json:"more,omitempty"`
	TotalLabel string    `json:"total_label,omitempty"`
	Total      string    `json:"total,omitempty"`
	Message    string    `json:"message,omitempty"`

	AmountLabel string `json:"amount_label,omitempty"` // awaiting payment
	Amount      string `json:"amount,omitempty"`
	Scan        string `json:"scan,omitempty"`
	ExpiresIn   string `json:"expires_in,omitempty"`
	ExpiresAt   int64  `json:"expires_at,omitempty"` // Unix ms; 0: no countdown
	QRSVG       string `json:"qr_svg,omitempty"`
	QRSize      int    `json:"qr_size,omitempty"` // modules, quiet zone included
	Mode        string `json:"mode,omitempty"`

	Title string `json:"title,omitempty"` // paid, expired, canceled, error
	Sub   string `json:"sub,omitempty"`
}

// langOf is the page's lang attribute for a locale: the locale itself when
// it is one we speak ("es-AR", "pt-BR"), else the language of the words
// the page falls back to.
func langOf(locale string, t texts) string {
	if validLang(locale) && strings.HasPrefix(locale, t.Lang[:2]) {
		return locale
	}
	return t.Lang
}

// validLang accepts "ll" or "ll-RR": all a locale of the configuration is.
func validLang(s string) bool {
	for i, r := range s {
		switch {
		case i == 2 && r == '-':
		case i < 2 && r >= 'a' && r <= 'z', i > 2 && i < 5 && r >= 'A' && r <= 'Z':
		default:
			return false
		}
	}
	return len(s) == 2 || len(s) == 5
}

type webLine struct {
	Title  string `json:"title"`
	Amount string `json:"amount"`
}

func newWebView(s Screen, pos string) (webView, error) {
	t := textsFor(s.Locale)
	v := webView{State: s.State, POS: pos, Lang: langOf(s.Locale, t), Store: clean(s.StoreName)}
	amount := formatAmount(s.Amount, s.Locale)
	switch s.State {
	case "", StateIdle:
		v.State, v.Welcome = StateIdle, t.Welcome
	case StateCart:
		v.TotalLabel, v.Total, v.Message = t.Total, amount, clean(s.Message)
		for i, l := range s.Lines {
			if i == webMaxLines {
				v.More = t.More(len(s.Lines) - webMaxLines)
				break
			}
			title := clean(l.Title)
			if l.Quantity > 1 {
				title = fmt.Sprintf("%d × %s", l.Quantity, title)
			}
			v.Lines = append(v.Lines, webLine{Title: title, Amount: formatAmount(l.Amount, s.Locale)})
		}
	case StateAwaitingPayment:
		if s.QRData == "" {
			return webView{}, errNoQR
		}
		mods, err := s.qrModules(qrcode.Medium)
		if err != nil {
			return webView{}, err
		}
		v.AmountLabel, v.Amount, v.Scan, v.Mode = t.AmountDue, amount, t.Scan, s.Mode
		v.QRSVG, v.QRSize = qrSVG(mods), len(mods)+2*QuietZone
		if !s.ExpiresAt.IsZero() {
			v.ExpiresIn, v.ExpiresAt = t.ExpiresIn, s.ExpiresAt.UnixMilli()
		}
	case StatePaid:
		v.Title, v.Amount, v.Sub = t.Paid, amount, t.PaidSub
	case StateExpired:
		v.Title, v.Sub = t.Expired, t.ExpiredSub
	case StateCanceled:
		v.Title = t.Canceled
	case StateError:
		v.Title, v.Sub = t.Error, clean(s.Message)
	default:
		return webView{}, fmt.Errorf("state: unknown %q", string(s.State))
	}
	return v, nil
}
