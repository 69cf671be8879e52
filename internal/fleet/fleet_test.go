package fleet_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/posagent/posagent/internal/events"
	"github.com/posagent/posagent/internal/fleet"
)

// fakeFleet answers $SRV.INFO.posagent for n agents with the agent's
// service shape (stores X0001.., each with POS <store>P1 and <store>P2) on
// a single subscription, so thousands of agents cost nothing to start.
func fakeFleet(t *testing.T, nc *nats.Conn, n int) {
	t.Helper()
	replies := make([][]byte, n)
	for i := range n {
		store := fmt.Sprintf("X%04d", i+1)
		info := micro.Info{
			ServiceIdentity: micro.ServiceIdentity{Name: "posagent", ID: "ID" + store, Version: "1.2.3",
				Metadata: map[string]string{"store_id": store, "store_name": "Fake " + store, "started": "2026-01-02T03:04:05Z"}},
			Type: micro.InfoResponseType,
		}
		for _, p := range []string{"P1", "P2"} {
			info.Endpoints = append(info.Endpoints, micro.EndpointInfo{Name: "status_" + store + p,
				Subject: "pos." + store + "." + store + p + ".status", QueueGroup: "q", Metadata: map[string]string{"pos": store + p}})
		}
		b, err := json.Marshal(info)
		if err != nil {
			t.Fatal(err)
		}
		replies[i] = b
	}
	sub, err := nc.Subscribe("$SRV.INFO.posagent", func(m *nats.Msg) {
		for _, r := range replies {
			_ = nc.Publish(m.Reply, r)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	flush(t, nc)
}

// flush makes sure the server has the subscriptions made on nc before
// another connection sends to them.
func flush(t *testing.T, nc *nats.Conn) {
	t.Helper()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

// gate holds status requests until `limit` are in flight (or every
// expected request has arrived), then answers them all: a collector that
// sends more than its bound at once shows up in max, one that sends fewer
// never gets answers.
type gate struct {
	mu                    sync.Mutex
	cond                  *sync.Cond
	limit, total          int
	inflight, arrived, mx int
	round                 int
}

func newGate(limit, total int) *gate {
	g := &gate{limit: limit, total: total}
	g.cond = sync.NewCond(&g.mu)
	return g
}

func (g *gate) hold() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.inflight++
	g.arrived++
	g.mx = max(g.mx, g.inflight)
	round := g.round
	if g.inflight >= g.limit || g.arrived == g.total {
		g.round++
		g.cond.Broadcast()
	}
	for g.round == round {
		g.cond.Wait()
	}
	g.inflight--
}

// TestCollectThousandsBounded lists 1000 agents (2000 POS) with at most 16
// status requests in flight.
func TestCollectThousandsBounded(t *testing.T) {
	const n, limit = 1000, 16
	ns := startNATS(t)
	nc := connect(t, ns.ClientURL())
	fakeFleet(t, nc, n)
	g := newGate(limit, 2*n)
	sub, err := nc.Subscribe("pos.*.*.status", func(m *nats.Msg) {
		go func() {
			g.hold()
			pos := strings.Split(m.Subject, ".")[2]
			_ = m.Respond([]byte(`{"state":"idle","last_event":{"status":"processed","external_pos_id":"` + pos + `","at":"2026-01-02T03:04:05.000Z"}}`))
		}()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	flush(t, nc)
	client := connect(t, ns.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	seen := map[string]bool{}
	sum, err := fleet.Collect(ctx, client, fleet.Options{Timeout: wait, Quiet: -1, Expect: n, Concurrency: limit, StatusTimeout: wait},
		func(r fleet.Row) {
			if r.Err != nil || r.Status == nil || r.Status.State != "idle" || !strings.HasPrefix(r.POS, r.Agent.StoreID) || seen[r.POS] {
				t.Errorf("row %+v", r)
			}
			seen[r.POS] = true
		})
	if err != nil || sum != (fleet.Summary{Agents: n, POS: 2 * n}) || len(seen) != 2*n {
		t.Fatalf("%+v %v, %d POS", sum, err, len(seen))
	}
	if g.mx != limit {
		t.Fatalf("at most %d status requests were in flight, want exactly the bound %d", g.mx, limit)
	}
}

// TestCollectStreams: rows come while discovery still waits for more
// agents.
func TestCollectStreams(t *testing.T) {
	ns := startNATS(t)
	nc := connect(t, ns.ClientURL())
	fakeFleet(t, nc, 3)
	sub, err := nc.Subscribe("pos.*.*.status", func(m *nats.Msg) { _ = m.Respond([]byte(`{"state":"idle"}`)) })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	flush(t, nc)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	first := make(chan struct{})
	var once sync.Once
	// Expecting more agents than exist, with a long timeout and no quiet
	// period, discovery would wait the whole minute: the first row must
	// come before that, and the caller may stop there.
	_, err = fleet.Collect(ctx, connect(t, ns.ClientURL()), fleet.Options{Timeout: time.Hour, Quiet: -1, Expect: 99},
		func(fleet.Row) { once.Do(func() { close(first); cancel() }) })
	select {
	case <-first:
	default:
		t.Fatalf("no row before discovery ended: %v", err)
	}
	if err == nil {
		t.Fatal("Collect ignored its context")
	}
}

// TestCollectProblems: a POS whose agent does not answer its status query,
// and an agent listing no POS, both get a row; answers that are not
// posagent INFO replies are ignored.
func TestCollectProblems(t *testing.T) {
	ns := startNATS(t)
	nc := connect(t, ns.ClientURL())
	// A real micro service with the agent's shape whose endpoint never
	// answers, and one with no endpoints.
	mute, err := micro.AddService(nc, micro.Config{Name: "posagent", Version: "1.0.0",
		Metadata: map[string]string{"store_id": "M1", "started": "bad time"}})
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Stop()
	if err := mute.AddEndpoint("status_M1P1", micro.HandlerFunc(func(micro.Request) {}),
		micro.WithEndpointSubject("pos.M1.M1P1.status"), micro.WithEndpointMetadata(map[string]string{"pos": "M1P1"})); err != nil {
		t.Fatal(err)
	}
	empty, err := micro.AddService(nc, micro.Config{Name: "posagent", Version: "1.0.0", Metadata: map[string]string{"store_id": "E1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer empty.Stop()
	// Another service's answers on the same subject are not agents.
	junk, err := nc.Subscribe("$SRV.INFO.posagent", func(m *nats.Msg) {
		_ = m.Respond([]byte(`{"type":"io.nats.micro.v1.info_response","name":"other","id":"x"}`))
		_ = m.Respond([]byte(`not json`))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer junk.Unsubscribe()
	flush(t, nc)

	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	var rows []fleet.Row
	sum, err := fleet.Collect(ctx, connect(t, ns.ClientURL()), fleet.Options{Timeout: wait, Quiet: -1, Expect: 2,
		StatusTimeout: 300 * time.Millisecond}, func(r fleet.Row) { rows = append(rows, r) })
	if err != nil || sum != (fleet.Summary{Agents: 2, POS: 1, Failed: 1}) || len(rows) != 2 {
		t.Fatalf("%+v %v %+v", sum, err, rows)
	}
	for _, r := range rows {
		switch r.Agent.StoreID {
		case "M1":
			if r.POS != "M1P1" || r.Err == nil || r.Status != nil || !r.Agent.Started.IsZero() {
				t.Errorf("mute POS row %+v", r)
			}
		case "E1":
			if r.POS != "" || r.Err != nil {
				t.Errorf("empty agent row %+v", r)
			}
		default:
			t.Errorf("unexpected row %+v", r)
		}
	}
}

// TestQuietPeriodEndsDiscovery: once answers stop, discovery does not
// wait for its timeout.
func TestQuietPeriodEndsDiscovery(t *testing.T) {
	ns := startNATS(t)
	nc := connect(t, ns.ClientURL())
	fakeFleet(t, nc, 5)
	// The context ends long before the hour-long timeout: only the quiet
	// period can end discovery without an error.
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	n, err := fleet.Discover(ctx, connect(t, ns.ClientURL()), fleet.Options{Timeout: time.Hour, Quiet: 100 * time.Millisecond}, func(fleet.Agent) {})
	if err != nil || n != 5 {
		t.Fatalf("%d %v", n, err)
	}
}

func TestTableAndJSON(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ag := fleet.Agent{ID: "A1", Version: "1.2.3", StoreID: "S001", StoreName: "Café", Started: now.Add(-26 * time.Hour)}
	rows := []fleet.Row{
		{Agent: ag, POS: "STORE001POS001", Subject: "pos.S001.STORE001POS001.status", Status: &events.StatusReply{
			State: "awaiting_payment", SaleID: "000123", OrderID: "ORD1", TotalAmount: "150.00", Printer: "paper_out",
			LastEvent: &events.Event{Status: "created", At: "2026-01-02T03:02:05.000Z"}}},
		{Agent: ag, POS: "STORE001POS002", Status: &events.StatusReply{State: "idle"}},
		{Agent: fleet.Agent{ID: "A2", Version: "1.2.3", StoreID: "S002"}, POS: "P9", Err: fmt.Errorf("no answer within 2s")},
		{Agent: fleet.Agent{ID: "A3", Version: "1.2.4", StoreID: "S003", Started: now.Add(-90 * time.Second)}},
	}
	var b bytes.Buffer
	tab := fleet.NewTable(&b)
	for _, r := range rows {
		if err := tab.Write(r, now); err != nil {
			t.Fatal(err)
		}
	}
	want := `STORE      POS              STATE            SALE           AMOUNT      LAST EVENT         VERSION     UPTIME   PRINTER
S001       STORE001POS001   awaiting_payment 000123         150.00      created 2m0s       1.2.3       1d2h     paper_out
S001       STORE001POS002   idle             -              -           -                  1.2.3       1d2h     -
S002       P9               unreachable      -              -           -                  1.2.3       -        error: no answer within 2s
S003       -                no POS           -              -           -                  1.2.4       1m30s    -
`
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	for _, r := range rows[:1] {
		if err := fleet.WriteJSON(&b, r, now); err != nil {
			t.Fatal(err)
		}
	}
	wantJSON := `{"store_id":"S001","store_name":"Café","pos":"STORE001POS001","state":"awaiting_payment","sale_id":"000123","order_id":"ORD1","total_amount":"150.00","printer":"paper_out","last_event":{"status":"created","external_pos_id":"","at":"2026-01-02T03:02:05.000Z"},"last_event_age_s":120,"version":"1.2.3","started":"2026-01-01T01:04:05Z","uptime_s":93600,"agent_id":"A1","subject":"pos.S001.STORE001POS001.status"}` + "\n"
	if b.String() != wantJSON {
		t.Errorf("json:\n%s\nwant:\n%s", b.String(), wantJSON)
	}
}

func TestDuration(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "0s"}, {0, "0s"}, {59 * time.Second, "59s"}, {61 * time.Second, "1m1s"},
		{3*time.Hour + 5*time.Minute + 9*time.Second, "3h5m"}, {50 * time.Hour, "2d2h"},
	} {
		if got := fleet.Duration(c.d); got != c.want {
			t.Errorf("Duration(%s) = %s, want %s", c.d, got, c.want)
		}
	}
}
