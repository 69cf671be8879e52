package printer

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/posagent/posagent/internal/money"
)

// ErrQRTooLarge means the payload does not fit a QR code, or its symbol
// does not fit the paper even at one dot per module.
var ErrQRTooLarge = errors.New("qr_data too large for the QR code or the paper")

// ESC/POS command bytes the encoder emits.
const (
	esc = 0x1B
	gs  = 0x1D
	lf  = 0x0A

	sizeNormal = 0x00
	sizeTall   = 0x01 // GS ! bits 0-3: height-1
	sizeLarge  = 0x11 // double width and height
)

// fontADots is the width of one font A character on every profile here.
const fontADots = 12

// Encoder turns receipts into ESC/POS bytes for one configured printer.
// It is pure (no I/O) and safe for concurrent use.
type Encoder struct {
	prof      Profile // with Config overrides applied
	native    bool
	cp        codePage
	maxModule int // 0: per mode default
	loc       *time.Location
	cols      int
}

// NewEncoder resolves cfg's profile, QR mode and code page.
func NewEncoder(cfg Config) (*Encoder, error) {
	cfg = cfg.withDefaults()
	prof, ok := LookupProfile(cfg.Profile)
	if !ok {
		return nil, fieldError("profile", "unknown profile", cfg.Profile)
	}
	if cfg.PaperWidthDots != 0 {
		prof.WidthDots = cfg.PaperWidthDots
	}
	if cfg.CodePage != "" {
		prof.CodePage = cfg.CodePage
	}
	if cfg.RasterBandRows != 0 {
		prof.RasterBandRows = cfg.RasterBandRows
	}
	cp, ok := lookupCodePage(prof.CodePage)
	if !ok {
		return nil, fieldError("code_page", "unknown code page", prof.CodePage)
	}
	e := &Encoder{prof: prof, cp: cp, maxModule: cfg.MaxModuleDots, loc: cfg.Location,
		cols: max(prof.WidthDots/fontADots, 1)}
	switch cfg.QR {
	case QRNative:
		e.native = true
	case QRRaster:
	case QRAuto:
		e.native = prof.NativeQR
	default:
		return nil, fieldError("qr", "must be one of native, raster, auto", cfg.QR)
	}
	return e, nil
}

// Profile returns the profile the encoder uses, overrides applied.
func (e *Encoder) Profile() Profile { return e.prof }

// Native reports whether QR codes are sent as GS ( k (else GS v 0).
func (e *Encoder) Native() bool { return e.native }

// Encode returns the whole job: init, code page, text, the QR with its
// quiet zone, feed and cut. It fails only when the QR cannot be printed
// (empty, or too large: ErrQRTooLarge).
func (e *Encoder) Encode(r Receipt) ([]byte, error) {
	if r.QRData == "" {
		return nil, errors.New("qr_data: empty")
	}
	lb := labelsFor(r.Locale)
	b := make([]byte, 0, 512+len(r.QRData))
	b = append(b, esc, '@', esc, 't', e.cp.escT, esc, 'a', 1)
	if r.StoreName != "" {
		b = append(b, gs, '!', sizeTall)
		b = e.line(b, r.StoreName)
		b = append(b, gs, '!', sizeNormal)
	}
	if r.Title != "" {
		b = e.line(b, r.Title)
	}
	if len(r.Items) > 0 {
		b = append(b, esc, 'a', 0)
		for _, it := range r.Items {
			b = e.item(b, it, r.Locale)
		}
		b = append(b, esc, 'a', 1)
	}
	b = e.line(b, lb.total)
	b = append(b, gs, '!', sizeLarge)
	b = e.line(b, money.Format(r.Amount, r.Locale))
	b = append(b, gs, '!', sizeNormal)
	b = e.line(b, lb.scan)

	var err error
	if e.native {
		b, err = e.appendNativeQR(b, r.QRData)
	} else {
		b, err = e.appendRasterQR(b, r.QRData)
	}
	if err != nil {
		return nil, err
	}

	if r.OrderID != "" {
		b = e.labelled(b, lb.order, r.OrderID)
	}
	if r.SaleID != "" {
		b = e.labelled(b, lb.sale, r.SaleID)
	}
	if !r.ExpiresAt.IsZero() {
		b = e.labelled(b, lb.expires, r.ExpiresAt.In(e.loc).Format(lb.timeLayout))
	}
	if r.Footer != "" {
		b = e.line(b, r.Footer)
	}
	b = append(b, esc, 'd', byte(e.prof.CutFeedLines), gs, 'V', cutByte(e.prof.PartialCut))
	return b, nil
}

func cutByte(partial bool) byte {
	if partial {
		return 1
	}
	return 0
}

// line appends s and a line feed.
func (e *Encoder) line(b []byte, s string) []byte {
	return append(e.cp.appendText(b, s), lf)
}

// labelled appends "Label: value" on one line when it fits, else the label
// and the value on lines of their own, so an order id is never split.
func (e *Encoder) labelled(b []byte, label, value string) []byte {
	l, v := e.cp.text(label+":"), e.cp.text(value)
	if len(l)+1+len(v) <= e.cols {
		b = append(b, l...)
		b = append(b, ' ')
		b = append(b, v...)
		return append(b, lf)
	}
	b = append(append(b, l...), lf)
	return append(append(b, v...), lf)
}

// item appends "2 x Coffee      $ 150,00", the title cut to fit the line.
func (e *Encoder) item(b []byte, it Item, locale string) []byte {
	left := e.cp.text(strconv.Itoa(it.Quantity) + " x " + it.Title)
	var right []byte
	if total, ok := mulCents(it.UnitPrice, it.Quantity); ok {
		right = e.cp.text(money.Format(total, locale))
	}
	if len(right)+2 > e.cols {
		b = append(append(b, left...), lf)
		return append(append(b, right...), lf)
	}
	if room := e.cols - len(right) - 1; len(left) > room {
		left = left[:room]
	}
	b = append(b, left...)
	for range e.cols - len(left) - len(right) {
		b = append(b, ' ')
	}
	b = append(b, right...)
	return append(b, lf)
}

// mulCents multiplies without overflowing; ok is false when it would.
func mulCents(c money.Cents, q int) (money.Cents, bool) {
	if q == 0 || c == 0 {
		return 0, true
	}
	p := int64(c) * int64(q)
	if p/int64(q) != int64(c) || (int64(c) == math.MinInt64 && q == -1) {
		return 0, false
	}
	return money.Cents(p), true
}

// feedDots appends ESC J feeds for dots dot rows (several commands when one
// byte is not enough).
func (e *Encoder) feedDots(b []byte, dots int) []byte {
	units := dots * e.prof.FeedUnitsPerDot
	for units > 0 {
		n := min(units, 255)
		b = append(b, esc, 'J', byte(n))
		units -= n
	}
	return b
}

func (e *Encoder) String() string {
	mode := QRRaster
	if e.native {
		mode = QRNative
	}
	return fmt.Sprintf("%s %s %d dots %s", e.prof.Name, mode, e.prof.WidthDots, e.cp.name)
}
