package display

import (
	"fmt"
	"image"
	"image/color"
	"strconv"
	"strings"
	"time"

	qrcode "github.com/skip2/go-qrcode"
)

// MaxSide bounds each side of a rendered image (a 4K panel is 3840 wide);
// beyond it a configuration typo would allocate gigabytes.
const MaxSide = 8192

// ParseSize reads a configured image size such as "800x480".
func ParseSize(s string) (image.Point, error) {
	ws, hs, ok := strings.Cut(s, "x")
	if !ok || !plainNumber(ws) || !plainNumber(hs) {
		return image.Point{}, fmt.Errorf("size: want WIDTHxHEIGHT in pixels, like 800x480, got %q", s)
	}
	w, _ := strconv.Atoi(ws)
	h, _ := strconv.Atoi(hs)
	if w < 1 || h < 1 || w > MaxSide || h > MaxSide {
		return image.Point{}, fmt.Errorf("size: each side must be 1 to %d pixels, got %q", MaxSide, s)
	}
	return image.Pt(w, h), nil
}

// plainNumber: 1 to 5 digits, no sign, no leading zero.
func plainNumber(s string) bool {
	if len(s) < 1 || len(s) > 5 || s[0] == '0' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// RenderOptions tune Render.
type RenderOptions struct {
	// ECC is the QR error correction level. The zero value (which is
	// qrcode.Low's value) means the default, Medium; use ECCLow for L.
	ECC qrcode.RecoveryLevel
	// Now is the moment the countdown counts from. Zero: the screen shows
	// the expiry as a wall-clock time instead of a countdown.
	Now time.Time
	// Logo, optional, is drawn on the idle screen above the store name.
	Logo image.Image
	// Location is where the wall-clock expiry is told; nil is time.Local.
	Location *time.Location
}

// Render draws s at size. It is pure: same input, same pixels. It fails
// (without panicking) on an unknown state, a bad size, an awaiting screen
// without a payload, and a size at which the QR modules would be smaller
// than MinModulePx (ErrTooSmall).
func Render(s Screen, size image.Point, opt RenderOptions) (image.Image, error) {
	p, err := plan(s, size, opt)
	if err != nil {
		return nil, err
	}
	c, img, err := newCanvas(size)
	if err != nil {
		return nil, err
	}
	c.draw(p)
	return img, nil
}

// framePlan is a screen checked against a size, with its QR laid out:
// drawing it cannot fail.
type framePlan struct {
	s    Screen
	size image.Point
	opt  RenderOptions
	mods [][]bool
	qr   qrFit
}

// plan checks what Render promises to refuse and lays out the QR.
func plan(s Screen, size image.Point, opt RenderOptions) (framePlan, error) {
	p := framePlan{s: s, size: size, opt: opt}
	if size.X < 1 || size.Y < 1 || size.X > MaxSide || size.Y > MaxSide {
		return p, fmt.Errorf("size: want 1x1 to %dx%d pixels, got %dx%d", MaxSide, MaxSide, size.X, size.Y)
	}
	ecc, err := optionECC(opt.ECC)
	if err != nil {
		return p, err
	}
	switch s.State {
	case StateAwaitingPayment:
		if s.QRData == "" {
			return p, errNoQR
		}
		if p.mods, err = s.qrModules(ecc); err != nil {
			return p, err
		}
		qrArea, _ := awaitingAreas(size)
		if p.qr, err = fitQR(len(p.mods), qrArea); err != nil {
			return p, fmt.Errorf("size %dx%d: %w", size.X, size.Y, err)
		}
	case "", StateIdle, StateCart, StatePaid, StateExpired, StateCanceled, StateError:
	default:
		return p, fmt.Errorf("state: unknown %q", string(s.State))
	}
	return p, nil
}

// draw puts the planned screen on c, which must be p.size.
func (c *canvas) draw(p framePlan) {
	t := textsFor(p.s.Locale)
	switch p.s.State {
	case "", StateIdle:
		c.idle(p.s, t, p.opt.Logo)
	case StateCart:
		c.cart(p.s, t)
	case StateAwaitingPayment:
		c.awaiting(p.s, t, p.opt, p.mods, p.qr)
	default:
		c.result(p.s, t)
	}
}

// awaitingAreas splits the screen into the QR's square-ish area (left in
// landscape, top in portrait, at most 3/5 of the long side) and the text's.
func awaitingAreas(size image.Point) (qr, text image.Rectangle) {
	w, h := size.X, size.Y
	if w >= h {
		side := min(h, w*3/5)
		return image.Rect(0, 0, side, h), image.Rect(side, 0, w, h)
	}
	side := min(w, h*3/5)
	return image.Rect(0, 0, w, side), image.Rect(0, side, w, h)
}

func (c *canvas) unit() int {
	return min(c.bounds.Dx(), c.bounds.Dy())
}

func (c *canvas) margin() int { return c.unit() / 20 }

func (c *canvas) idle(s Screen, t texts, logo image.Image) {
	c.fill(c.bounds, colorPaper)
	r := c.bounds.Inset(c.margin())
	if logo != nil && !logo.Bounds().Empty() && !r.Empty() {
		logoR := image.Rect(r.Min.X, r.Min.Y, r.Max.X, r.Min.Y+r.Dy()*9/20)
		c.drawLogo(logo, logoR)
		r.Min.Y = logoR.Max.Y
	}
	spans := []span{}
	if name := clean(s.StoreName); name != "" {
		spans = append(spans, span{text: name, bold: true, size: 0.13, color: colorInk})
	}
	spans = append(spans, span{text: t.Welcome, size: 0.08, gap: 0.04, color: colorAccent})
	c.column(r, c.unit(), alignCenter, spans)
}

// drawLogo scales logo to fit r, keeping its aspect ratio, centred.
func (c *canvas) drawLogo(logo image.Image, r image.Rectangle) {
	lb := logo.Bounds()
	w, h := r.Dx(), r.Dx()*lb.Dy()/lb.Dx()
	if h > r.Dy() {
		w, h = r.Dy()*lb.Dx()/lb.Dy(), r.Dy()
	}
	if w < 1 || h < 1 {
		return
	}
	x, y := r.Min.X+(r.Dx()-w)/2, r.Min.Y+(r.Dy()-h)/2
	c.dst.scale(image.Rect(x, y, x+w, y+h), logo)
}

func (c *canvas) cart(s Screen, t texts) {
	c.fill(c.bounds, colorPaper)
	u, m := c.unit(), c.margin()
	r := c.bounds.Inset(m)
	if r.Empty() {
		return
	}
	if name := clean(s.StoreName); name != "" {
		px := u * 5 / 100
		f, text := c.fitLine(name, false, px, r.Dx())
		c.drawText(f, text, r, r.Min.Y, px*5/4, alignCenter, colorMuted)
		r.Min.Y += px*5/4 + m/2
	}

	// Footer: total, then the message, from the bottom up.
	if msg := clean(s.Message); msg != "" {
		px := u * 6 / 100
		f, text := c.fitLine(msg, true, px, r.Dx())
		r.Max.Y -= px * 3 / 2
		c.drawText(f, text, r, r.Max.Y, px*3/2, alignCenter, colorAccent)
	}
	totalPx := u * 9 / 100
	total := formatAmount(s.Amount, s.Locale)
	fl := c.face(true, totalPx)
	ft := c.shrinkToFit(total, true, totalPx, r.Dx()-measure(fl, t.Total)-u/30)
	r.Max.Y -= totalPx * 3 / 2
	totalTop := r.Max.Y
	c.drawText(fl, t.Total, r, totalTop, totalPx*3/2, alignLeft, colorInk)
	c.drawRight(ft, total, r, totalTop, totalPx*3/2, colorInk)
	r.Max.Y -= m / 2
	c.fill(image.Rect(r.Min.X, r.Max.Y-max(u/300, 1), r.Max.X, r.Max.Y), colorRule)
	r.Max.Y -= m / 2

	// Lines, as many as fit; the last row says how many more there are.
	rowPx := max(u*6/100, minFontPx)
	rowH := rowPx * 3 / 2
	rows := 0
	if r.Dy() > 0 {
		rows = r.Dy() / rowH
	}
	lines := s.Lines
	if len(lines) > rows {
		rows = max(rows-1, 0)
		lines = lines[:rows]
	}
	f := c.face(false, rowPx)
	gap := u * 3 / 100
	for i, l := range lines {
		top := r.Min.Y + i*rowH
		amount := formatAmount(l.Amount, s.Locale)
		aw := measure(f, amount)
		title := clean(l.Title)
		if l.Quantity > 1 {
			title = fmt.Sprintf("%d × %s", l.Quantity, title)
		}
		titleR := image.Rect(r.Min.X, r.Min.Y, r.Max.X-aw-gap, r.Max.Y)
		c.drawText(f, fitWidth(f, title, titleR.Dx()), titleR, top, rowH, alignLeft, colorInk)
		c.drawRight(f, amount, r, top, rowH, colorInk)
	}
	if hidden := len(s.Lines) - len(lines); hidden > 0 && r.Dy() >= rowH {
		c.drawText(f, fitWidth(f, t.More(hidden), r.Dx()), r, r.Min.Y+len(lines)*rowH, rowH, alignLeft, colorMuted)
	}
}

func (c *canvas) awaiting(s Screen, t texts, opt RenderOptions, mods [][]bool, qr qrFit) {
	c.fill(c.bounds, colorPaper)
	c.fill(qr.outer, colorWhite) // the quiet zone, whatever the page colour
	black := color.RGBA{0, 0, 0, 0xff}
	for y, row := range mods {
		for x := 0; x < len(row); {
			if !row[x] {
				x++
				continue
			}
			run := x // a run of dark modules is one rectangle
			for run < len(row) && row[run] {
				run++
			}
			p := qr.symbol.Min.Add(image.Pt(x*qr.module, y*qr.module))
			c.fill(image.Rect(p.X, p.Y, p.X+(run-x)*qr.module, p.Y+qr.module), black)
			x = run
		}
	}

	_, textR := awaitingAreas(c.bounds.Size())
	m := c.margin()
	textR = image.Rect(textR.Min.X+m/2, textR.Min.Y+m/2, textR.Max.X-m, textR.Max.Y-m/2)
	spans := []span{
		{text: t.AmountDue, size: 0.055, color: colorMuted},
		{text: formatAmount(s.Amount, s.Locale), bold: true, size: 0.13, gap: 0.01, color: colorInk, whole: true},
		{text: t.Scan, bold: true, size: 0.06, gap: 0.06, color: colorAccent},
	}
	if line := expiryLine(s.ExpiresAt, t, opt); line != "" {
		spans = append(spans, span{text: line, size: 0.055, gap: 0.04, color: colorInk, tick: !opt.Now.IsZero()})
	}
	if name := clean(s.StoreName); name != "" {
		spans = append(spans, span{text: name, size: 0.04, gap: 0.07, color: colorMuted})
	}
	c.column(textR, c.unit(), alignCenter, spans)
}

// expiryLine is "Vence en 14:59" with a Now, "Vence a las 15:04" without.
func expiryLine(expires time.Time, t texts, opt RenderOptions) string {
	if expires.IsZero() {
		return ""
	}
	if opt.Now.IsZero() {
		loc := opt.Location
		if loc == nil {
			loc = time.Local
		}
		return t.ExpiresAt + " " + expires.In(loc).Format("15:04")
	}
	return t.ExpiresIn + " " + countdown(expires.Sub(opt.Now))
}

func (c *canvas) result(s Screen, t texts) {
	bg, fg := colorPaid, colorWhite
	var spans []span
	switch s.State {
	case StatePaid:
		spans = []span{
			{text: t.Paid, bold: true, size: 0.11},
			{text: formatAmount(s.Amount, s.Locale), bold: true, size: 0.09, gap: 0.04, whole: true},
			{text: t.PaidSub, size: 0.06, gap: 0.05},
		}
	case StateExpired:
		bg, fg = colorExpired, colorInk
		spans = []span{
			{text: t.Expired, bold: true, size: 0.11},
			{text: t.ExpiredSub, size: 0.06, gap: 0.05},
		}
	case StateCanceled:
		bg = colorCanceled
		spans = []span{{text: t.Canceled, bold: true, size: 0.11}}
	default:
		bg = colorError
		spans = []span{{text: t.Error, bold: true, size: 0.09}}
		r := c.bounds.Inset(c.margin())
		for i, line := range wrapWords(c.face(false, c.unit()*6/100), clean(s.Message), r.Dx(), 3) {
			spans = append(spans, span{text: line, size: 0.06, gap: 0.05 * float64(1-min(i, 1))})
		}
	}
	for i := range spans {
		spans[i].color = fg
	}
	c.fill(c.bounds, bg)
	c.column(c.bounds.Inset(c.margin()), c.unit(), alignCenter, spans)
}
