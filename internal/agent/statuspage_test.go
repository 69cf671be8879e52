package agent

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/posagent/posagent/internal/config"
	"github.com/posagent/posagent/internal/events"
)

// sseReader reads a Server-Sent Events stream one event at a time.
type sseReader struct {
	resp *http.Response
	sc   *bufio.Scanner
}

func openSSE(t *testing.T, url string) *sseReader {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	return &sseReader{resp: resp, sc: sc}
}

// next returns the next event's name and data; the stream's own pace
// bounds the wait (a snapshot at least on every change).
func (r *sseReader) next(t *testing.T) (string, string) {
	t.Helper()
	var name, data string
	for r.sc.Scan() {
		line := r.sc.Text()
		switch {
		case line == "" && name != "":
			return name, data
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = strings.TrimPrefix(line, "data: ")
		}
	}
	t.Fatalf("status stream ended: %v", r.sc.Err())
	return "", ""
}

// waitSnapshot reads snapshots until ok accepts one.
func (r *sseReader) waitSnapshot(t *testing.T, what string, ok func(statusSnapshot) bool) statusSnapshot {
	t.Helper()
	deadline := time.AfterFunc(wait, func() { r.resp.Body.Close() })
	defer deadline.Stop()
	for {
		name, data := r.next(t)
		if name != "snapshot" {
			continue
		}
		var s statusSnapshot
		if err := json.Unmarshal([]byte(data), &s); err != nil {
			t.Fatalf("snapshot %s: %v", data, err)
		}
		if ok(s) {
			return s
		}
	}
}

func TestStatusPageSelfContained(t *testing.T) {
	h := newHarness(t)
	resp, err := http.Get("http://" + h.agent.HTTPAddr() + "/")
	if err != nil {
		t.Fatal(err)
	}
	page := readAll(resp)
	resp.Body.Close()
	csp := resp.Header.Get("Content-Security-Policy")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("%d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{"default-src 'none'", "script-src '" + sha256Source(statusJS) + "'",
		"style-src '" + sha256Source(statusCSS) + "'", "connect-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	// Self-contained: the script and style are inline, nothing is loaded.
	if !strings.Contains(page, "<script>"+statusJS+"</script>") || !strings.Contains(page, "<style>"+statusCSS+"</style>") {
		t.Error("script or style not inline as hashed")
	}
	if m := regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?(https?:)?//`).FindString(page); m != "" {
		t.Errorf("page loads something from elsewhere: %s", m)
	}
	if strings.Contains(statusJS, "innerHTML") {
		t.Error("the script must set register-provided strings as text only")
	}
}

// TestStatusStreamFollowsASale reads the page's event stream while a sale
// runs: the POS's state, sale and amount, and the events, arrive live.
func TestStatusStreamFollowsASale(t *testing.T) {
	spool := filepath.Join(t.TempDir(), "receipts.bin")
	h := newHarness(t, withConfig(func(c *config.Config) {
		c.POS[0].Printer = &config.Printer{Transport: "file", Device: spool, Baud: 9600, FlowControl: "none",
			WriteTimeout: 5 * time.Second, Profile: "generic58", QR: "auto", MaxModuleDots: 5}
		c.POS[0].Displays = []config.Display{{Type: "web", ECC: "M"}}
	}))
	r := openSSE(t, "http://"+h.agent.HTTPAddr()+"/status/events")
	first := r.waitSnapshot(t, "first", func(statusSnapshot) bool { return true })
	if first.StoreID != "S1" || first.StoreName != "Café Central" || first.Version == "" || first.Now == "" ||
		strings.Join(first.POSOrder, ",") != "POS1,POS2,POS3" || first.Health.Checks["nats"] != "ok" {
		t.Fatalf("first snapshot %+v", first)
	}
	if p := first.POS["POS1"]; p.State != "idle" || p.Display != "display/POS1" || p.Printer == "" || p.Mode != "dynamic" {
		t.Fatalf("POS1 %+v", p)
	}
	if p := first.POS["POS2"]; p.Display != "display/POS2" || p.Printer != "" || p.Mode != "static" {
		t.Fatalf("POS2 %+v", p)
	}

	h.send("POS1", "sale", `{"sale_id":"sp1","total_amount":"1234.5"}`)
	created := h.waitSale("sp1", "created").Event
	s := r.waitSnapshot(t, "awaiting", func(s statusSnapshot) bool { return s.POS["POS1"].State == "awaiting_payment" })
	p := s.POS["POS1"]
	if p.SaleID != "sp1" || p.OrderID != created.OrderID || p.TotalAmount != "1234.50" || p.AmountText != "$ 1.234,50" {
		t.Fatalf("POS1 awaiting %+v", p)
	}
	if err := h.sim.Pay(created.OrderID); err != nil {
		t.Fatal(err)
	}
	s = r.waitSnapshot(t, "paid", func(s statusSnapshot) bool {
		n := len(s.Events)
		return n > 0 && s.Events[n-1].Status == "processed"
	})
	var seen []string
	for _, ev := range s.Events {
		seen = append(seen, ev.ExternalPOSID+" "+ev.Status+" "+ev.SaleID+" "+ev.AmountText)
	}
	if got := strings.Join(seen, "|"); got != "POS1 created sp1 $ 1.234,50|POS1 processed sp1 $ 1.234,50" {
		t.Fatalf("events %s", got)
	}

	// /status.json is the same data.
	code, body := h.get("/status.json")
	var js statusSnapshot
	if err := json.Unmarshal([]byte(body), &js); code != 200 || err != nil || len(js.Events) != 2 || js.POS["POS1"].LastEvent == nil {
		t.Fatalf("%d %v %s", code, err, body)
	}
}

// TestStatusQueryExtensions: the status query adds the printer's health
// and the amount of the sale awaiting payment.
func TestStatusQueryExtensions(t *testing.T) {
	spool := filepath.Join(t.TempDir(), "receipts.bin")
	h := newHarness(t, withConfig(func(c *config.Config) {
		c.POS[0].Printer = &config.Printer{Transport: "file", Device: spool, Baud: 9600, FlowControl: "none",
			WriteTimeout: 5 * time.Second, Profile: "generic58", QR: "auto", MaxModuleDots: 5}
	}))
	h.send("POS1", "sale", `{"sale_id":"q1","total_amount":"12.5"}`)
	h.waitSale("q1", "created")
	m, err := h.nc.Request("pos.S1.POS1.status", nil, wait)
	if err != nil {
		t.Fatal(err)
	}
	var st events.StatusReply
	if err := json.Unmarshal(m.Data, &st); err != nil {
		t.Fatal(err)
	}
	if st.State != "awaiting_payment" || st.SaleID != "q1" || st.TotalAmount != "12.50" || st.Printer == "" {
		t.Fatalf("%s", m.Data)
	}
	m, err = h.nc.Request("pos.S1.POS2.status", nil, wait)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(m.Data), "printer") || strings.Contains(string(m.Data), "total_amount") {
		t.Fatalf("POS2 has no printer and no sale: %s", m.Data)
	}
}

// TestOperationsMetrics: the consumer backlog, the checks and the build
// are exported.
func TestOperationsMetrics(t *testing.T) {
	// An external server keeps commands for POS this agent does not serve
	// (nats.unknown_pos keep); the embedded one would reject them.
	h := newHarness(t, withExternalNATS())
	js, err := jetstream.New(h.nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	// A POS no agent serves yet: its consumer exists, its commands wait.
	if _, err := js.CreateOrUpdateConsumer(ctx, "POS_CMD", jetstream.ConsumerConfig{Durable: "posagent_S1_POS9",
		FilterSubject: "pos.S1.POS9.cmd.>", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		h.send("POS9", "sale", `{"sale_id":"x","total_amount":"1.00"}`)
	}
	// The server counts a consumer's pending messages as it signals it of
	// new ones, not at once: sample until all three are counted.
	var body string
	for deadline := time.Now().Add(wait); ; {
		h.agent.samplePending(ctx, js, "POS_CMD", map[string]string{"POS9": "posagent_S1_POS9", "POS1": "posagent_S1_POS1"})
		if _, body = h.get("/metrics"); strings.Contains(body, `posagent_consumer_pending{pos="POS9"} 3`) || time.Now().After(deadline) {
			break
		}
	}
	for _, want := range []string{
		`posagent_consumer_pending{pos="POS9"} 3`,
		`posagent_consumer_pending{pos="POS1"} 0`,
		`posagent_check_failing{check="nats"} 0`,
		`posagent_check_failing{check="api_token"} 0`,
		`posagent_build_info{store_id="S1",version="`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(body, "posagent_hub_connected") {
		t.Error("no leaf link configured, yet posagent_hub_connected is exported")
	}
}

// TestStatusPageInChromium opens the status page at a phone's size, runs a
// sale through the agent and sees it appear and finish without a reload.
func TestStatusPageInChromium(t *testing.T) {
	requireChromium(t)
	h := newHarness(t, withConfig(func(c *config.Config) {
		c.POS[0].Displays = []config.Display{{Type: "web", ECC: "M"}}
	}))
	ctx, poll := openBrowser(t)
	card := func(pos string) string { return `document.querySelector('.card[data-pos="` + pos + `"]')` }
	// A phone: 390 CSS pixels wide.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(3), chromedp.EmulateMobile),
		chromedp.Navigate("http://"+h.agent.HTTPAddr()+"/")); err != nil {
		t.Fatal(err)
	}
	poll("live", `document.body.dataset.live === "1" && `+card("POS1")+` !== null && `+card("POS1")+`.dataset.state === "idle"`)
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.marker = 1; true`)); err != nil {
		t.Fatal(err)
	}
	// The style applies (the CSP lets the inline, hashed style through):
	// the body's default margin is gone.
	poll("health shown", `getComputedStyle(document.body).marginTop === "0px" &&
		document.querySelector('#checks li[data-check="nats"] b').textContent === "ok" &&
		document.getElementById("overall").textContent === "ok" && /^posagent /.test(document.getElementById("version").textContent)`)

	h.send("POS1", "sale", `{"sale_id":"page1","total_amount":"1234.50"}`)
	created := h.waitSale("page1", "created").Event
	poll("awaiting payment with sale and amount", card("POS1")+`.dataset.state === "awaiting_payment" &&
		`+card("POS1")+`.querySelector(".sale").textContent === "page1" &&
		`+card("POS1")+`.querySelector(".amount").textContent === "$ 1.234,50" &&
		document.querySelector('#events li[data-sale="page1"][data-status="created"]') !== null`)
	if err := h.sim.Pay(created.OrderID); err != nil {
		t.Fatal(err)
	}
	poll("paid, without reload", `document.querySelector('#events li[data-status="processed"]') !== null &&
		document.querySelector('#events li').dataset.status === "processed" &&
		`+card("POS1")+`.dataset.state === "idle" && window.marker === 1`)
	// Readable on a phone: nothing wider than the screen.
	poll("no horizontal scrolling", `document.documentElement.scrollWidth <= window.innerWidth`)
}

// TestStatusStreamEndsAtShutdown: an open status page does not hold the
// agent's shutdown up; its stream ends.
func TestStatusStreamEndsAtShutdown(t *testing.T) {
	h := newHarness(t)
	r := openSSE(t, "http://"+h.agent.HTTPAddr()+"/status/events")
	r.waitSnapshot(t, "first", func(statusSnapshot) bool { return true })
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		h.stop()
	}()
	var timedOut atomic.Bool
	timer := time.AfterFunc(wait, func() { timedOut.Store(true); r.resp.Body.Close() })
	for r.sc.Scan() {
	}
	timer.Stop()
	if timedOut.Load() {
		t.Fatal("the status stream outlived the agent")
	}
	<-stopped
}

// sha256Source is a CSP hash source, computed here independently of the
// product's helper.
func sha256Source(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}
