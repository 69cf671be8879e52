package display

import (
	"fmt"
	"math"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/posagent/posagent/internal/emvco"
	"github.com/posagent/posagent/internal/money"
)

// State is what the customer display is showing.
type State string

// The states a Screen can be in.
const (
	StateIdle            State = "idle"
	StateCart            State = "cart"
	StateAwaitingPayment State = "awaiting_payment"
	StatePaid            State = "paid"
	StateExpired         State = "expired"
	StateCanceled        State = "canceled"
	StateError           State = "error"
)

// IsResult reports whether s is an outcome that stays on screen for the
// result hold and then gives way to the idle screen.
func (s State) IsResult() bool {
	switch s {
	case StatePaid, StateExpired, StateCanceled, StateError:
		return true
	}
	return false
}

// Line is one cart line from cmd.display.
type Line struct {
	Title    string
	Quantity int
	Amount   money.Cents
}

// Screen is everything a display needs to draw one state. It is a value:
// adapters never keep a reference into a caller's slices past Show.
type Screen struct {
	State     State
	POS       string // external_pos_id
	StoreName string
	Locale    string      // es-AR | pt-BR | es-CL | es-UY | es-MX | es-PE | es-CO | en
	Amount    money.Cents // total (cart, awaiting, paid ...)
	Lines     []Line      // cart
	Message   string      // cart message / error text
	QRData    string      // payload to encode (dynamic qr_data, or the POS's static QR payload)
	Mode      string      // static|dynamic|hybrid
	SaleID    string
	OrderID   string
	ExpiresAt time.Time // zero: no countdown

	// qr, set by the Controller, keeps QRData's modules once a sink has
	// encoded them, for the screen's other sinks (copies share it).
	qr *qrMemo
}

// clone returns s with its own copy of Lines, so a caller may reuse its
// slice after Show returns.
func (s Screen) clone() Screen {
	if s.Lines != nil {
		s.Lines = append([]Line(nil), s.Lines...)
	}
	return s
}

// equal reports whether a and b draw the same picture.
func (a Screen) equal(b Screen) bool {
	if len(a.Lines) != len(b.Lines) {
		return false
	}
	for i := range a.Lines {
		if a.Lines[i] != b.Lines[i] {
			return false
		}
	}
	return a.State == b.State && a.POS == b.POS && a.StoreName == b.StoreName &&
		a.Locale == b.Locale && a.Amount == b.Amount && a.Message == b.Message &&
		a.QRData == b.QRData && a.Mode == b.Mode && a.SaleID == b.SaleID &&
		a.OrderID == b.OrderID && a.ExpiresAt.Equal(b.ExpiresAt)
}

// SampleDynamicQR is a real-shaped Mercado Pago dynamic order payload
// (147 characters, CRC checked), used by TestScreen and the tests.
const SampleDynamicQR = "00020101021243650016COM.MERCADOLIBRE020130636cd8fce34-5045-43f2-96ff-ab36b717bbad5204000053039865802BR5909Test Test6009SAO PAULO62070503***63045742"

// TestScreen returns a demo awaiting-payment screen with a real-shaped
// dynamic payload from the locale's country, in its currency, for
// `posagent display-test`.
func TestScreen(storeName, locale string) Screen {
	return Screen{
		State:     StateAwaitingPayment,
		POS:       "TEST",
		StoreName: storeName,
		Locale:    locale,
		Amount:    123450,
		QRData:    emvco.Sample(locale),
		Mode:      "dynamic",
		SaleID:    "display-test",
	}
}

// maxTextRunes bounds how much of any one text we look at: nothing longer
// fits on a screen, and a 10 KB title must not cost 10 KB of measuring.
const maxTextRunes = 300

// clean makes outside text safe to draw and to print on a terminal: control
// characters (including ESC, which could drive the terminal) become spaces,
// invalid UTF-8 becomes U+FFFD, runs of spaces collapse, and the result is
// cut to maxTextRunes.
func clean(s string) string {
	var b strings.Builder
	n := 0
	space := false
	for _, r := range s {
		if n >= maxTextRunes {
			break
		}
		if r == utf8.RuneError || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || unicode.IsSpace(r) {
			if r == utf8.RuneError {
				r = '?'
			} else {
				r = ' '
			}
		}
		if r == ' ' {
			if space || n == 0 {
				continue
			}
			space = true
		} else {
			space = false
		}
		b.WriteRune(r)
		n++
	}
	return strings.TrimRight(b.String(), " ")
}

// formatAmount is money.Format with the one int64 that cannot be negated
// nudged by a cent, so an absurd amount still prints as digits.
func formatAmount(c money.Cents, locale string) string {
	if c == math.MinInt64 {
		c++
	}
	return money.Format(c, locale)
}

// countdown writes the time left so that nobody can take it for a clock
// time: "14 min", "1 h 05 min", and "45 s" in the last minute; an expiry in
// the past is "0 s". The units read the same in every locale we speak.
func countdown(left time.Duration) string {
	if left < 0 {
		left = 0
	}
	if secs := (left + time.Second - 1) / time.Second; secs < 60 {
		// The last minute in seconds, rounded up: "0 s" only when it is over.
		return fmt.Sprintf("%d s", secs)
	}
	// Whole minutes, rounded down: the customer never has less time than
	// the screen says.
	mins := max(int64(left/time.Minute), 1)
	if mins < 60 {
		return fmt.Sprintf("%d min", mins)
	}
	return fmt.Sprintf("%d h %02d min", mins/60, mins%60)
}
