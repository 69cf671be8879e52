package session

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/posagent/posagent/internal/display"
	"github.com/posagent/posagent/internal/events"
	"github.com/posagent/posagent/internal/printer"
	"github.com/posagent/posagent/internal/qrorder"
	"github.com/posagent/posagent/internal/qrorder/qrordertest"
	"github.com/posagent/posagent/internal/secret"
)

// The session's own tests drive command sequences through a Session
// without NATS: the Orders API simulator behind a real qrorder.Client, an
// in-memory record store, a recording publisher, recording screens,
// printer and metrics (fakes_test.go), and a clock the test moves. Every
// wait is on an event with a deadline; the deadline only bounds a failing
// test.

const waitLimit = 15 * time.Second

// harness is one POS session and everything around it.
type harness struct {
	t       *testing.T
	n       *notifier
	clock   *fakeClock
	sim     *qrordertest.Simulator
	api     *switchAPI
	store   *memStore
	pub     *recPublisher
	screens *recScreens
	printer *recPrinter
	metrics *recMetrics
	logs    *recLogs
	cfg     Config
	s       *Session
	stop    func()
	seq     uint64
	outages int // how many outages the test played
}

const (
	testStore = "STORE1"
	testPOS   = "POS1"
)

// newHarness starts a session for one POS in dynamic mode; edit changes
// its configuration first.
func newHarness(t *testing.T, edit ...func(*Config)) *harness {
	t.Helper()
	n := newNotifier()
	clock := &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	sim := qrordertest.NewServer(t, qrordertest.Options{Now: clock.APINow})
	h := &harness{
		t: t, n: n, clock: clock, sim: sim,
		api:     &switchAPI{n: n},
		store:   &memStore{n: n, data: map[string][]byte{}},
		pub:     &recPublisher{recorder: recorder[events.Event]{n: n}},
		screens: &recScreens{recorder[display.Screen]{n: n}},
		printer: &recPrinter{recorder[printer.Job]{n: n}},
		metrics: &recMetrics{recorder: recorder[string]{n: n}},
		logs:    &recLogs{recorder[string]{n: n}},
		cfg: Config{StoreID: testStore, StoreName: "Kiosco", Locale: "es-AR", POS: testPOS, Mode: qrorder.ModeDynamic,
			StaticQRData: display.SampleDynamicQR, PollInterval: time.Hour, ResolveMaxInterval: 10 * time.Millisecond},
	}
	for _, e := range edit {
		e(&h.cfg)
	}
	h.api.normal = h.client(time.Minute, http.DefaultTransport)
	// Wake the harness's waiters on every change at the API too.
	fwd, stopFwd := context.WithCancel(context.Background())
	t.Cleanup(stopFwd)
	go sim.Wait(fwd, func() bool { n.changed(); return false })
	h.start()
	t.Cleanup(h.shutdown)
	return h
}

// start runs a new Session over the harness's store and API, as a
// restarted agent would.
func (h *harness) start() {
	h.t.Helper()
	h.s = New(h.cfg, Deps{API: h.api, Store: h.store, Events: h.pub, Log: h.pub, Screens: h.screens, Printer: h.printer,
		Metrics: h.metrics, Logger: slog.New(h.logs), Now: h.clock.Now})
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- h.s.Run(ctx) }()
	// stop ends the session, its background work included, and waits.
	h.stop = sync.OnceFunc(func() {
		cancel()
		<-ran
	})
	select {
	case <-h.s.Ready():
	case err := <-ran:
		ran <- err
		h.t.Fatalf("Run: %v", err)
	}
}

func (h *harness) shutdown() {
	h.openGate()
	h.stop()
}

// restart stops the session (its background work included) and starts a
// new one: what a crash and a restart look like to the records.
func (h *harness) restart() {
	h.t.Helper()
	h.stop()
	h.start()
}

// delivery is a first delivery of a new command, stored now.
func (h *harness) delivery(verb, payload string) Delivery {
	h.seq++
	return Delivery{Verb: verb, Payload: []byte(payload), Seq: h.seq, Timestamp: h.clock.Now(), NumDelivered: 1}
}

func (h *harness) handle(d Delivery) error {
	ctx := context.WithValue(context.Background(), ctxKey{}, true)
	return h.s.Handle(ctx, d)
}

// send delivers a new command and fails the test if it must be
// redelivered.
func (h *harness) send(verb, payload string) Delivery {
	h.t.Helper()
	d := h.delivery(verb, payload)
	if err := h.handle(d); err != nil {
		h.t.Fatalf("%s %s: %v", verb, payload, err)
	}
	return d
}

// again is d delivered once more.
func again(d Delivery) Delivery {
	d.NumDelivered++
	return d
}

// waitFor waits until cond holds.
func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	for {
		ch := h.n.current()
		if cond() {
			return
		}
		select {
		case <-ch:
		case <-deadline.C:
			h.t.Fatalf("timed out waiting for %s; events: %s", what, h.eventList())
		}
	}
}

// waitEvent waits for the event with status about saleID and returns it.
func (h *harness) waitEvent(status, saleID string) events.Event {
	h.t.Helper()
	var got events.Event
	h.waitFor(status+" event of sale "+saleID, func() bool {
		for _, ev := range h.pub.all() {
			if ev.Status == status && ev.SaleID == saleID {
				got = ev
				return true
			}
		}
		return false
	})
	return got
}

// eventsOf returns the events about saleID, in order.
func (h *harness) eventsOf(saleID string) []events.Event {
	var out []events.Event
	for _, ev := range h.pub.all() {
		if ev.SaleID == saleID {
			out = append(out, ev)
		}
	}
	return out
}

func (h *harness) eventList() string {
	var out []string
	for _, ev := range h.pub.all() {
		s := ev.SaleID + ":" + ev.Status
		if ev.StatusDetail != "" {
			s += "/" + ev.StatusDetail
		}
		if ev.Error != nil {
			s += "/" + ev.Error.Code
		}
		out = append(out, s)
	}
	return fmt.Sprint(out)
}

// statuses is "status" (or "status/detail" or "status/code") of each
// event about saleID.
func (h *harness) statuses(saleID string) []string {
	var out []string
	for _, ev := range h.eventsOf(saleID) {
		s := ev.Status
		switch {
		case ev.Error != nil:
			s += "/" + ev.Error.Code
		case ev.StatusDetail != "" && ev.Status != events.Created:
			s += "/" + ev.StatusDetail
		}
		out = append(out, s)
	}
	return out
}

func (h *harness) wantStatuses(saleID string, want ...string) {
	h.t.Helper()
	if got := h.statuses(saleID); !slices.Equal(got, want) {
		h.t.Fatalf("events of sale %s = %v, want %v", saleID, got, want)
	}
}

// record reads a sale's record as a restarted session would find it: from
// the store, or, for the POS's sale being created, from the POS record and
// the created event the events stream keeps.
func (h *harness) record(saleID string) *saleRecord {
	h.t.Helper()
	if r := h.storedRecord(saleID); r != nil {
		return r
	}
	ev, ok, _ := h.pub.Last(context.Background(), testPOS, events.Created)
	if !ok {
		return nil
	}
	return createdRecord(testStore, testPOS, h.posRecord().Creating, ev)
}

// storedRecord reads a sale's record from the store.
func (h *harness) storedRecord(saleID string) *saleRecord {
	h.t.Helper()
	var r saleRecord
	h.store.mu.Lock()
	b, ok := h.store.data[h.s.saleKey(saleID)]
	h.store.mu.Unlock()
	if !ok {
		return nil
	}
	if err := json.Unmarshal(b, &r); err != nil {
		h.t.Fatal(err)
	}
	return &r
}

// recordedFinal reports whether saleID's record holds a final state.
func (h *harness) recordedFinal(saleID string) bool {
	r := h.record(saleID)
	return r != nil && r.State != stateCreating && r.State != stateAwaiting
}

// posRecord reads the POS record from the store.
func (h *harness) posRecord() posRecord {
	h.t.Helper()
	var p posRecord
	h.store.mu.Lock()
	b, ok := h.store.data[h.s.posKey()]
	h.store.mu.Unlock()
	if ok {
		if err := json.Unmarshal(b, &p); err != nil {
			h.t.Fatal(err)
		}
	}
	return p
}

// order returns the simulator's order for a sale (by external reference).
func (h *harness) order(saleID string) qrordertest.Order {
	h.t.Helper()
	os := h.sim.OrdersByExternalReference(h.cfg.ExternalReferencePrefix + saleID)
	if len(os) != 1 {
		h.t.Fatalf("sale %s has %d orders at the API, want 1", saleID, len(os))
	}
	return os[0]
}

// client is a real Orders API client for the simulator with the given
// retry budget and transport.
func (h *harness) client(budget time.Duration, rt http.RoundTripper) *qrorder.Client {
	c, err := qrorder.New(qrorder.Options{BaseURL: h.sim.URL(), Token: secret.New(qrordertest.DefaultToken),
		HTTPClient: &http.Client{Transport: rt}, RequestTimeout: 5 * time.Second, RetryBudget: budget,
		BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond})
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

// outageHeader marks the requests sent during an outage with its number.
const outageHeader = "X-Test-Outage"

// outage makes every request to endpoint fail (lost: carried out first,
// when committed) until recover: calls made meanwhile use a client with a
// short retry budget whose requests carry the outage's mark, and every
// marked request fails whenever it reaches the API — also an attempt the
// client gave up at the end of its budget that arrives after recover, so
// what the API did during the outage never depends on the scheduler.
func (h *harness) outage(endpoint string, committed bool) {
	h.outages++
	mark := strconv.Itoa(h.outages)
	h.sim.Inject(endpoint, qrordertest.Fault{Count: 1 << 30, Status: 503, AfterCommit: committed,
		Match: func(r *http.Request) bool { return r.Header.Get(outageHeader) == mark }})
	fast := h.client(100*time.Millisecond, markRequests{mark, http.DefaultTransport})
	h.api.mu.Lock()
	h.api.fast = fast
	h.api.mu.Unlock()
}

// recover ends the outage: the API answers new calls again, and every
// other fault the test injected is dropped. Requests of past outages
// (the only faults with Match here) still fail.
func (h *harness) recover() {
	h.sim.ClearFaultsExcept(func(_ string, f qrordertest.Fault) bool { return f.Match != nil })
	h.api.mu.Lock()
	h.api.fast = nil
	h.api.mu.Unlock()
}

// markRequests sends every request with an outage's mark.
type markRequests struct {
	mark string
	next http.RoundTripper
}

func (m markRequests) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set(outageHeader, m.mark)
	return m.next.RoundTrip(r)
}

// closeGate holds background API calls (pollers, resolvers) until
// openGate.
func (h *harness) closeGate() {
	h.api.mu.Lock()
	if h.api.gate == nil {
		h.api.gate = make(chan struct{})
	}
	h.api.mu.Unlock()
}

func (h *harness) openGate() {
	h.api.mu.Lock()
	if h.api.gate != nil {
		close(h.api.gate)
		h.api.gate = nil
	}
	h.api.mu.Unlock()
	h.n.changed()
}

// poke makes the poller of saleID's order ask the API now.
func (h *harness) poke(saleID string) {
	h.t.Helper()
	id := h.record(saleID).OrderID
	if !h.s.Poke(id) {
		h.t.Fatalf("no poller follows order %s of sale %s", id, saleID)
	}
}

// lastScreen is the last screen shown.
func (h *harness) lastScreen() display.Screen {
	h.t.Helper()
	all := h.screens.all()
	if len(all) == 0 {
		h.t.Fatal("no screen shown")
	}
	return all[len(all)-1]
}

func (h *harness) commandCount(outcome string) int {
	n := 0
	for _, c := range h.metrics.all() {
		if c == outcome {
			n++
		}
	}
	return n
}

func sale(id, amount string, more ...string) string {
	s := `{"sale_id":"` + id + `","total_amount":"` + amount + `"`
	for _, m := range more {
		s += "," + m
	}
	return s + "}"
}

func cancelCmd(id string) string { return `{"sale_id":"` + id + `"}` }

func refundCmd(id, refundID, amount string) string {
	s := `{"sale_id":"` + id + `"`
	if refundID != "" {
		s += `,"refund_id":"` + refundID + `"`
	}
	if amount != "" {
		s += `,"amount":"` + amount + `"`
	}
	return s + "}"
}

// qrordertestFault answers the next request with status.
func qrordertestFault(status int) qrordertest.Fault { return qrordertest.Fault{Status: status} }

// qrordertestFaultCorrupt creates the next order with a qr_data whose CRC
// is wrong.
func qrordertestFaultCorrupt() qrordertest.Fault { return qrordertest.Fault{CorruptCRC: true} }

// qrordertestAlways answers every request with status until recover. A
// fault injected after an outage must last: a request the client gave up
// on may still reach the simulator late and would take a one-time fault.
func qrordertestAlways(status int) qrordertest.Fault {
	return qrordertest.Fault{Status: status, Count: 1 << 30}
}

// must fails the harness's test on err.
func (h *harness) must(err error) {
	h.t.Helper()
	if err != nil {
		h.t.Fatal(err)
	}
}
