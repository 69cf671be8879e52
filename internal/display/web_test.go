package display

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	qrcode "github.com/skip2/go-qrcode"
)

type sseEvent struct {
	name string
	data struct {
		Now    int64           `json:"now"`
		V      string          `json:"v"`
		Screen json.RawMessage `json:"screen"`
	}
	view webView
}

// sseReader reads events from one stream, each read bounded by wait.
type sseReader struct {
	t      *testing.T
	events chan sseEvent
	closed chan struct{}
}

func openStream(t *testing.T, url string) *sseReader {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %s %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	r := &sseReader{t: t, events: make(chan sseEvent, 100), closed: make(chan struct{})}
	t.Cleanup(func() { resp.Body.Close() })
	go func() {
		defer close(r.closed)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev.data); err != nil {
					t.Errorf("bad event data %q: %v", line, err)
				}
				if len(ev.data.Screen) > 0 {
					if err := json.Unmarshal(ev.data.Screen, &ev.view); err != nil {
						t.Errorf("bad screen %q: %v", ev.data.Screen, err)
					}
				}
			case line == "":
				if ev.name != "" {
					r.events <- ev
				}
				ev = sseEvent{}
			}
		}
	}()
	return r
}

// next returns the next screen event, skipping heartbeats.
func (r *sseReader) next() sseEvent {
	r.t.Helper()
	for {
		select {
		case ev := <-r.events:
			if ev.name == "screen" {
				return ev
			}
		case <-r.closed:
			r.t.Fatal("the stream ended")
		case <-time.After(wait):
			r.t.Fatal("no event on the stream")
		}
	}
}

func newTestWeb(t *testing.T, clock func() time.Time) (*Web, *httptest.Server) {
	w := NewWeb(nil, clock)
	srv := httptest.NewServer(w)
	t.Cleanup(func() {
		w.Close()
		srv.Close()
	})
	return w, srv
}

func TestWebRoutes(t *testing.T) {
	w, srv := newTestWeb(t, nil)
	w.Sink("STORE001POS001")
	cases := []struct {
		method, path string
		status       int
	}{
		{"GET", "/display/STORE001POS001", 200},
		{"HEAD", "/display/STORE001POS001", 200},
		{"GET", "/display/STORE001POS002", 404},
		{"GET", "/display/", 404},
		{"GET", "/display/STORE001POS001/", 404},
		{"GET", "/display/STORE001POS001/other", 404},
		{"GET", "/display/STORE001POS002/events", 404},
		{"GET", "/elsewhere", 404},
		{"POST", "/display/STORE001POS001", 405},
		{"DELETE", "/display/STORE001POS001/events", 405},
	}
	for _, c := range cases {
		req, _ := http.NewRequest(c.method, srv.URL+c.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%s %s = %d, want %d", c.method, c.path, resp.StatusCode, c.status)
		}
	}
}

// TestWebPageSelfContained: the page loads nothing from anywhere, and its
// CSP admits exactly its own style and script.
func TestWebPageSelfContained(t *testing.T) {
	w, srv := newTestWeb(t, nil)
	w.Sink("P1")
	resp, err := http.Get(srv.URL + "/display/P1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	page := string(b)
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	for _, bad := range []string{"http:", "https:", "//", "src=", "href=", "@import", "url(", "{{"} {
		if bad == "//" {
			// Comments in the script start with "//"; a protocol-relative URL
			// would be inside quotes.
			if regexp.MustCompile(`["'(]//`).MatchString(page) {
				t.Errorf("page has a protocol-relative URL")
			}
			continue
		}
		if strings.Contains(page, bad) {
			t.Errorf("page contains %q: it must load nothing", bad)
		}
	}
	csp := resp.Header.Get("Content-Security-Policy")
	for _, tag := range []string{"script", "style"} {
		m := regexp.MustCompile(`(?s)<` + tag + `>(.*?)</` + tag + `>`).FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no inline %s", tag)
		}
		sum := sha256.Sum256([]byte(m[1]))
		if h := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; !strings.Contains(csp, tag+"-src "+h) {
			t.Errorf("CSP %q does not admit the inline %s (%s)", csp, tag, h)
		}
	}
	if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "connect-src 'self'") {
		t.Errorf("CSP %q", csp)
	}
	if !strings.Contains(page, `data-events="P1/events"`) {
		t.Error("the page does not point at its own POS's stream")
	}
}

func TestWebStream(t *testing.T) {
	serverNow := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	w, srv := newTestWeb(t, func() time.Time { return serverNow })
	p1, p2 := w.Sink("P1"), w.Sink("P2")
	ctx := context.Background()

	a := openStream(t, srv.URL+"/display/P1/events")
	first := a.next()
	if first.view.State != StateIdle || first.view.POS != "P1" {
		t.Fatalf("first event %+v, want P1's idle screen", first.view)
	}
	if first.data.Now != serverNow.UnixMilli() {
		t.Fatalf("now = %d, want the server clock %d", first.data.Now, serverNow.UnixMilli())
	}
	b := openStream(t, srv.URL+"/display/P2/events")
	b.next()

	s := TestScreen("Café", "es-AR")
	s.ExpiresAt = serverNow.Add(10 * time.Minute)
	s.POS = "P2" // a wrong POS in the screen must not leak into P1's page
	if err := p1.Show(ctx, s); err != nil {
		t.Fatal(err)
	}
	got := a.next().view
	if got.State != StateAwaitingPayment || got.Amount != "$ 1.234,50" || got.Scan != "Escaneá con Mercado Pago" ||
		got.ExpiresAt != s.ExpiresAt.UnixMilli() || got.POS != "P1" || got.Lang != "es-AR" {
		t.Fatalf("awaiting view %+v", got)
	}
	mods, _ := QRModules(s.QRData, qrcode.Medium)
	if got.QRSize != len(mods)+8 || !strings.Contains(got.QRSVG, `viewBox="0 0 53 53"`) {
		t.Fatalf("qr size %d, svg %.120s", got.QRSize, got.QRSVG)
	}

	// P2's stream did not get P1's screen: its next event is its own.
	if err := p2.Show(ctx, Screen{State: StateCart, Message: "p2 only", Amount: 100}); err != nil {
		t.Fatal(err)
	}
	if v := b.next().view; v.State != StateCart || v.Message != "p2 only" || v.POS != "P2" {
		t.Fatalf("P2 got %+v", v)
	}

	// A second browser on P1 starts with the current screen.
	c := openStream(t, srv.URL+"/display/P1/events")
	if v := c.next().view; v.State != StateAwaitingPayment {
		t.Fatalf("a new stream starts with %s, want the current screen", v.State)
	}
	if n := w.Streams("P1"); n != 2 {
		t.Fatalf("Streams(P1) = %d, want 2", n)
	}

	// Dropped streams end; reconnecting gets the current screen first.
	if err := p1.Show(ctx, Screen{State: StatePaid, Amount: 123450, Locale: "pt-BR"}); err != nil {
		t.Fatal(err)
	}
	a.next()
	w.DropStreams()
	select {
	case <-a.closed:
	case <-time.After(wait):
		t.Fatal("DropStreams left a stream open")
	}
	d := openStream(t, srv.URL+"/display/P1/events")
	if v := d.next().view; v.State != StatePaid || v.Title != "Pagamento aprovado!" || v.Amount != "R$ 1.234,50" {
		t.Fatalf("after reconnect %+v", v)
	}

	// Closed: streams end and new ones are refused with 503.
	w.Close()
	resp, err := http.Get(srv.URL + "/display/P1/events")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("stream after Close: %d", resp.StatusCode)
	}
}

func TestWebSinkRefuses(t *testing.T) {
	w := NewWeb(nil, nil)
	sink := w.Sink("P1")
	for _, s := range []Screen{{State: StateAwaitingPayment}, {State: "weird"}, {State: StateAwaitingPayment, QRData: strings.Repeat("x", 4000)}} {
		if err := sink.Show(context.Background(), s); err == nil {
			t.Errorf("%+v accepted", s.State)
		}
	}
}

func TestWebViewCart(t *testing.T) {
	lines := make([]Line, 45)
	for i := range lines {
		lines[i] = Line{Title: fmt.Sprintf("<b>item\x1b %d</b>", i), Quantity: 2, Amount: 150}
	}
	v, err := newWebView(Screen{State: StateCart, Lines: lines, Amount: 6750, Locale: "es-MX"}, "P")
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Lines) != webMaxLines || v.More != "y 15 más…" || v.Total != "$ 67.50" {
		t.Fatalf("%d lines, more %q, total %q", len(v.Lines), v.More, v.Total)
	}
	if v.Lines[0].Title != "2 × <b>item 0</b>" {
		t.Fatalf("title %q", v.Lines[0].Title) // text stays text: the page sets it with textContent
	}
}

// TestQRSVG reads the modules back out of the SVG path.
func TestQRSVG(t *testing.T) {
	mods, err := QRModules(sampleStatic, qrcode.Medium)
	if err != nil {
		t.Fatal(err)
	}
	svg := qrSVG(mods)
	n := len(mods) + 2*QuietZone
	if !strings.Contains(svg, fmt.Sprintf(`viewBox="0 0 %d %d"`, n, n)) || !strings.Contains(svg, `shape-rendering="crispEdges"`) ||
		!strings.Contains(svg, fmt.Sprintf(`<rect width="%d" height="%d" fill="#fff"/>`, n, n)) {
		t.Fatalf("svg head: %.200s", svg)
	}
	got := make([][]bool, n)
	for i := range got {
		got[i] = make([]bool, n)
	}
	for _, m := range regexp.MustCompile(`M(\d+) (\d+)h(\d+)v1h-(\d+)z`).FindAllStringSubmatch(svg, -1) {
		var x, y, w, w2 int
		fmt.Sscan(m[1], &x)
		fmt.Sscan(m[2], &y)
		fmt.Sscan(m[3], &w)
		fmt.Sscan(m[4], &w2)
		if w != w2 {
			t.Fatalf("run %q does not close", m[0])
		}
		for i := range w {
			got[y][x+i] = true
		}
	}
	for y := range n {
		for x := range n {
			in := x >= QuietZone && y >= QuietZone && x < n-QuietZone && y < n-QuietZone
			want := in && mods[y-QuietZone][x-QuietZone]
			if got[y][x] != want {
				t.Fatalf("module (%d,%d) = %v, want %v", x, y, got[y][x], want)
			}
		}
	}
}

// FuzzWebPath: any request path is answered without a panic, and only a
// registered POS's page or stream is ever 200.
func FuzzWebPath(f *testing.F) {
	for _, p := range []string{"/display/P1", "/display/P1/events", "/display/", "/display/P1/", "/display//events", "/display/P1/events/x", "/", "/display/%2e%2e"} {
		f.Add(p)
	}
	w := NewWeb(nil, nil)
	w.Sink("P1")
	w.Close() // streams answer 503 at once instead of staying open
	f.Fuzz(func(t *testing.T, path string) {
		req := httptest.NewRequest("GET", "/", nil)
		req.URL.Path = path
		rec := httptest.NewRecorder()
		w.ServeHTTP(rec, req)
		ok := path == "/display/P1" || path == "/display/P1/events"
		if ok != (rec.Code != http.StatusNotFound) {
			t.Fatalf("%q: status %d", path, rec.Code)
		}
	})
}
