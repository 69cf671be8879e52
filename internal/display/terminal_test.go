package display

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	qrcode "github.com/skip2/go-qrcode"
)

var ansiSeq = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`)

// visibleLines strips the ANSI sequences and splits a frame into lines.
func visibleLines(frame []byte) []string {
	text := ansiSeq.ReplaceAllString(string(frame), "")
	text = strings.ReplaceAll(text, "\r\n", "\n")
	return strings.Split(strings.TrimSuffix(text, "\n"), "\n")
}

// parseHalfBlocks reads modules back out of half-block lines: each rune is
// two modules stacked, the glyph marking the dark ones.
func parseHalfBlocks(t *testing.T, lines []string, width int) [][]bool {
	t.Helper()
	var mods [][]bool
	for _, line := range lines {
		r := []rune(line)
		if len(r) < width {
			t.Fatalf("QR line %q is shorter than %d", line, width)
		}
		top, bottom := make([]bool, width), make([]bool, width)
		for x, c := range r[:width] {
			switch c {
			case '█':
				top[x], bottom[x] = true, true
			case '▀':
				top[x] = true
			case '▄':
				bottom[x] = true
			case ' ':
			default:
				t.Fatalf("unexpected rune %q in the QR", c)
			}
		}
		mods = append(mods, top, bottom)
	}
	return mods
}

func TestTerminalQRDecodes(t *testing.T) {
	for _, payload := range []string{sampleDynamic, sampleStatic} {
		t.Run(payload[:20], func(t *testing.T) {
			want, err := QRModules(payload, qrcode.Low)
			if err != nil {
				t.Fatal(err)
			}
			n := len(want)
			size := n + 2*terminalBorder
			var out bytes.Buffer
			s := Screen{State: StateAwaitingPayment, Locale: "es-AR", Amount: 15000, QRData: payload,
				StoreName: "Café\x1b[2J Central", ExpiresAt: fixedNow.Add(10 * time.Minute)}
			term := NewTerminal(&out).WithClock(func() time.Time { return fixedNow })
			if err := term.Show(context.Background(), s); err != nil {
				t.Fatal(err)
			}
			lines := visibleLines(out.Bytes())
			qrLines := (size + 1) / 2
			got := parseHalfBlocks(t, lines[:qrLines], size)[:size]
			for y := range size {
				for x := range size {
					inner := x >= terminalBorder && x < size-terminalBorder && y >= terminalBorder && y < size-terminalBorder
					w := inner && want[y-terminalBorder][x-terminalBorder]
					if got[y][x] != w {
						t.Fatalf("module (%d,%d) = %v, want %v (border %d)", x, y, got[y][x], w, terminalBorder)
					}
				}
			}
			// The 147-character dynamic payload (and the static one) fit 80x24.
			if len(lines) > TerminalHeight {
				t.Errorf("%d lines, want at most %d", len(lines), TerminalHeight)
			}
			if len(payload) == 147 && qrLines != 23 {
				t.Errorf("147-char payload takes %d lines, real payloads fit in 23", qrLines)
			}
			for i, l := range lines {
				if w := utf8.RuneCountInString(l); w > TerminalWidth {
					t.Errorf("line %d is %d columns: %q", i, w, l)
				}
			}
			all := strings.Join(lines, "\n")
			for _, want := range []string{"$ 150,00", "Escaneá con Mercado Pago", "Vence en 10 min", "Café [2J Central"} {
				if !strings.Contains(all, want) {
					t.Errorf("frame lacks %q:\n%s", want, all)
				}
			}
			if bytes.Contains(out.Bytes(), []byte("\x1b[2J")) {
				t.Error("a store name drove the terminal")
			}
			if !bytes.HasPrefix(out.Bytes(), []byte(ansiHome)) || !bytes.HasSuffix(out.Bytes(), []byte(ansiClearDown)) {
				t.Error("frame does not redraw from home and clear the rest")
			}
		})
	}
}

func TestTerminalGolden(t *testing.T) {
	for _, g := range goldenScreens() {
		t.Run(g.name, func(t *testing.T) {
			var out bytes.Buffer
			term := NewTerminal(&out).WithClock(func() time.Time { return fixedNow })
			if err := term.Show(context.Background(), g.s); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "terminal-"+g.name+".txt")
			if *update {
				if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (go test -update creates it)", err)
			}
			if !bytes.Equal(out.Bytes(), want) {
				t.Errorf("frame differs from %s:\n%s", path, strings.Join(visibleLines(out.Bytes()), "\n"))
			}
		})
	}
}

func TestTerminalPlain(t *testing.T) {
	var out bytes.Buffer
	term := NewTerminal(&out).WithoutANSI()
	for _, s := range []Screen{{State: StateIdle, StoreName: "Loja", Locale: "pt-BR"}, TestScreen("Loja", "pt-BR")} {
		if err := term.Show(context.Background(), s); err != nil {
			t.Fatal(err)
		}
	}
	if bytes.ContainsAny(out.Bytes(), "\x1b\r") {
		t.Errorf("plain output has escape sequences or CRs: %q", out.Bytes()[:80])
	}
	for _, want := range []string{"Loja", "Bem-vindo!", "R$ 1.234,50", "Escaneie com o Mercado Pago", "██"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("plain output lacks %q", want)
		}
	}
}

func TestTerminalCartOverflow(t *testing.T) {
	lines := make([]Line, 40)
	for i := range lines {
		lines[i] = Line{Title: strings.Repeat("Alfajor de maicena ", 8), Quantity: 3, Amount: 123456}
	}
	var out bytes.Buffer
	if err := NewTerminal(&out).Show(context.Background(), Screen{State: StateCart, Lines: lines, Amount: 999, Message: "hola"}); err != nil {
		t.Fatal(err)
	}
	got := visibleLines(out.Bytes())
	if len(got) > TerminalHeight {
		t.Errorf("%d lines for 40 cart lines, want at most %d", len(got), TerminalHeight)
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{"and 24 more…", "Total", "$ 9.99", "hola", "3 × Alfajor"} {
		if !strings.Contains(all, want) {
			t.Errorf("cart lacks %q:\n%s", want, all)
		}
	}
	for _, l := range got {
		if utf8.RuneCountInString(l) > TerminalWidth {
			t.Errorf("line too wide: %q", l)
		}
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("tty gone") }

func TestTerminalErrors(t *testing.T) {
	if err := NewTerminal(failWriter{}).Show(context.Background(), Screen{}); err == nil || !strings.Contains(err.Error(), "tty gone") {
		t.Errorf("write error: %v", err)
	}
	if err := NewTerminal(&bytes.Buffer{}).Show(context.Background(), Screen{State: StateAwaitingPayment}); err == nil {
		t.Error("awaiting without a payload accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := NewTerminal(&bytes.Buffer{}).Show(ctx, Screen{}); err == nil {
		t.Error("canceled context ignored")
	}
}

func BenchmarkTerminalQR(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := TerminalQR(sampleDynamic, qrcode.Low, terminalBorder); err != nil {
			b.Fatal(err)
		}
	}
}
