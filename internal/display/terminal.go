package display

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	qrcode "github.com/skip2/go-qrcode"
)

// Terminal screen geometry: the classic 80x24, which the payloads of
// real Mercado Pago orders (up to 147 characters) fit at ECC L with a
// 2-module border (23 lines).
const (
	TerminalWidth  = 80
	TerminalHeight = 24
	terminalBorder = 2
)

// ANSI sequences used by the terminal sink.
const (
	ansiHome      = "\x1b[H"
	ansiClearLine = "\x1b[K"
	ansiClearDown = "\x1b[J"
	ansiQRColours = "\x1b[30;47m" // black ink on white: the right polarity on dark and light themes
	ansiReset     = "\x1b[0m"
	ansiBold      = "\x1b[1m"
)

// Terminal draws screens as text on a terminal (or any io.Writer): the QR
// in half blocks with the amount beside it, for headless debugging and
// `posagent demo`. Each screen is one Write, so frames do not interleave.
type Terminal struct {
	w     io.Writer
	clock func() time.Time
	plain bool
}

// NewTerminal returns a sink writing ANSI frames (home, redraw, clear the
// rest) to w.
func NewTerminal(w io.Writer) *Terminal {
	return &Terminal{w: w, clock: time.Now}
}

// WithClock sets the clock the countdown counts from; call before use.
func (t *Terminal) WithClock(clock func() time.Time) *Terminal {
	t.clock = clock
	return t
}

// WithoutANSI makes frames plain text separated by a blank line, for logs
// and pipes. Without colours the QR's polarity is the reader's theme's: the
// glyphs are the dark modules, right on a light theme and inverted on a
// dark one (which not every phone scanner reads).
func (t *Terminal) WithoutANSI() *Terminal {
	t.plain = true
	return t
}

// RefreshInterval asks the Controller for a redraw every second while a
// countdown runs.
func (t *Terminal) RefreshInterval() time.Duration { return time.Second }

// Show writes one frame for s.
func (t *Terminal) Show(ctx context.Context, s Screen) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	frame, err := t.Frame(s)
	if err != nil {
		return err
	}
	if _, err := t.w.Write(frame); err != nil {
		return fmt.Errorf("terminal: %w", err)
	}
	return nil
}

// Frame returns the bytes Show would write for s now.
func (t *Terminal) Frame(s Screen) ([]byte, error) {
	tx := textsFor(s.Locale)
	var qr []string
	var text []termLine
	switch s.State {
	case StateAwaitingPayment:
		if s.QRData == "" {
			return nil, errNoQR
		}
		var err error
		if qr, err = TerminalQR(s.QRData, qrcode.Low, terminalBorder); err != nil {
			return nil, err
		}
		text = []termLine{{clean(s.StoreName), false}, {}, {tx.AmountDue, false},
			{formatAmount(s.Amount, s.Locale), true}, {}, {tx.Scan, false}}
		if line := expiryLine(s.ExpiresAt, tx, RenderOptions{Now: t.clock()}); line != "" {
			text = append(text, termLine{line, false})
		}
	case "", StateIdle:
		text = []termLine{{clean(s.StoreName), true}, {}, {tx.Welcome, false}}
	case StateCart:
		text = terminalCart(s, tx)
	case StatePaid:
		text = []termLine{{tx.Paid, true}, {formatAmount(s.Amount, s.Locale), false}, {tx.PaidSub, false}}
	case StateExpired:
		text = []termLine{{tx.Expired, true}, {tx.ExpiredSub, false}}
	case StateCanceled:
		text = []termLine{{tx.Canceled, true}}
	case StateError:
		text = []termLine{{tx.Error, true}, {clean(s.Message), false}}
	default:
		return nil, fmt.Errorf("state: unknown %q", string(s.State))
	}
	return t.compose(qr, text), nil
}

// termLine is one line of text beside or below the QR.
type termLine struct {
	text string
	bold bool
}

// cartWidth is the text width of a screen without a QR.
const cartWidth = TerminalWidth - 2

// terminalCart lays out cart lines as "title ... amount", as many as fit.
func terminalCart(s Screen, tx texts) []termLine {
	out := []termLine{{clean(s.StoreName), false}, {}}
	room := TerminalHeight - 1 - len(out) - 4 // total, message and blank lines below
	lines := s.Lines
	if len(lines) > room {
		lines = lines[:max(room-1, 0)]
	}
	for _, l := range lines {
		title := clean(l.Title)
		if l.Quantity > 1 {
			title = fmt.Sprintf("%d × %s", l.Quantity, title)
		}
		out = append(out, termLine{spread(title, formatAmount(l.Amount, s.Locale), TerminalWidth-2), false})
	}
	if hidden := len(s.Lines) - len(lines); hidden > 0 {
		out = append(out, termLine{tx.More(hidden), false})
	}
	out = append(out, termLine{}, termLine{spread(tx.Total, formatAmount(s.Amount, s.Locale), TerminalWidth-2), true})
	if msg := clean(s.Message); msg != "" {
		out = append(out, termLine{}, termLine{msg, false})
	}
	return out
}

// spread puts left and right at the two ends of a width-column line,
// cutting left if needed.
func spread(left, right string, width int) string {
	room := width - utf8.RuneCountInString(right) - 1
	left = cutRunes(left, room)
	pad := width - utf8.RuneCountInString(left) - utf8.RuneCountInString(right)
	return left + strings.Repeat(" ", max(pad, 1)) + right
}

// cutRunes cuts s to n runes, ending it with "…" when cut. Columns are
// counted as runes: the texts here are Latin, one column per rune.
func cutRunes(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// compose writes the frame: QR lines on the left with the text beside them
// (vertically centred), or the text alone.
func (t *Terminal) compose(qr []string, text []termLine) []byte {
	qrWidth := 0
	if len(qr) > 0 {
		qrWidth = utf8.RuneCountInString(qr[0])
	}
	textCol := 1
	if len(qr) > 0 && TerminalWidth-(qrWidth+3) >= 20 {
		textCol = qrWidth + 3
	}
	textWidth := TerminalWidth - textCol - 1 // the last column wraps on some terminals
	rows := max(len(qr), len(text))
	first := 0
	if textCol > 1 {
		first = max((len(qr)-len(text))/2, 0)
	} else if len(qr) > 0 {
		// A QR too wide for text beside it: the text goes below.
		first = len(qr) + 1
		rows = first + len(text)
	}

	// A terminal may be in raw mode (no newline translation): end lines
	// with CR LF there; plain output is for files and pipes.
	eol := "\r\n"
	if t.plain {
		eol = "\n"
	}
	var b bytes.Buffer
	if !t.plain {
		b.WriteString(ansiHome)
	}
	for row := range rows {
		if row < len(qr) {
			if !t.plain {
				b.WriteString(ansiQRColours)
			}
			b.WriteString(qr[row])
			if !t.plain {
				b.WriteString(ansiReset)
			}
		}
		if i := row - first; i >= 0 && i < len(text) {
			line := cutRunes(text[i].text, textWidth)
			used := 0
			if row < len(qr) {
				used = qrWidth
			}
			b.WriteString(strings.Repeat(" ", max(textCol-used, 0)))
			if text[i].bold && !t.plain && line != "" {
				line = ansiBold + line + ansiReset
			}
			b.WriteString(line)
		}
		if !t.plain {
			b.WriteString(ansiClearLine)
		}
		b.WriteString(eol)
	}
	if t.plain {
		b.WriteString(eol)
	} else {
		b.WriteString(ansiClearDown)
	}
	return b.Bytes()
}
