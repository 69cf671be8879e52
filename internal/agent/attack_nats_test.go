package agent

// Attacks on the NATS roles (README "Security"): a
// register connection — anonymous on the default configuration, the
// configured user on the hardened one — tries what only the agent may do.
// Each attack is one message or subscription on loopback; the server's
// refusal is awaited as an event, and its effect (nothing stored, nothing
// delivered, nothing deleted) is checked after a barrier that would have
// seen it. The same connection then does everything a register
// legitimately does.

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/posagent/posagent/internal/config"
	"github.com/posagent/posagent/internal/embeddednats"
	"github.com/posagent/posagent/internal/fleet"
	"github.com/posagent/posagent/internal/natsconn"
	"github.com/posagent/posagent/internal/register"
)

// refusals collects the server's permission errors of one connection.
type refusals struct {
	mu   sync.Mutex
	errs []string
	cond *sync.Cond
}

func newRefusals() *refusals {
	r := &refusals{}
	r.cond = sync.NewCond(&r.mu)
	return r
}

func (r *refusals) handler(_ *nats.Conn, _ *nats.Subscription, err error) {
	r.mu.Lock()
	r.errs = append(r.errs, err.Error())
	r.mu.Unlock()
	r.cond.Broadcast()
}

// wait waits for the server's permissions violation naming subject.
func (r *refusals) wait(t *testing.T, kind, subject string) { r.waitN(t, kind, subject, 1) }

// waitN waits for the n-th permissions violation naming subject.
func (r *refusals) waitN(t *testing.T, kind, subject string, n int) {
	t.Helper()
	want := strings.ToLower(`permissions violation for ` + kind + ` to "` + subject + `"`)
	timer := time.AfterFunc(wait, r.cond.Broadcast)
	defer timer.Stop()
	deadline := time.Now().Add(wait)
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		seen := 0
		for _, e := range r.errs {
			if strings.Contains(strings.ToLower(e), want) {
				seen++
			}
		}
		if seen >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server did not refuse %s to %q %d times; errors: %v", kind, subject, n, r.errs)
		}
		r.cond.Wait()
	}
}

// attackConn connects to the agent's embedded server as a register of
// the given configuration (its credentials, if any).
func attackConn(t *testing.T, h *harness, ref *refusals) *nats.Conn {
	t.Helper()
	cfg := *h.cfg
	_, port, err := splitHostPort(h.agent.NATSURL())
	if err != nil {
		t.Fatal(err)
	}
	cfg.NATS.Embedded.Listen = "127.0.0.1:" + port
	url, opts, err := natsconn.Register(&cfg, os.ReadFile)
	if err != nil {
		t.Fatal(err)
	}
	if ref != nil {
		opts = append(opts, nats.ErrorHandler(ref.handler))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatalf("register connection: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// hardenedNATS sets nats.embedded.auth: the documented hardened
// configuration.
func hardenedNATS(t *testing.T) harnessOpt {
	pw := filepath.Join(t.TempDir(), "nats-register-password")
	if err := os.WriteFile(pw, []byte("register-pw-4f1c\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return withConfig(func(c *config.Config) {
		c.NATS.Embedded.Auth = config.EmbeddedAuth{User: "register", PasswordFile: pw}
	})
}

// perRegisterUsers sets nats.embedded.auth.users_file: a user per register.
func perRegisterUsers(t *testing.T) harnessOpt {
	f := filepath.Join(t.TempDir(), "nats-registers")
	if err := os.WriteFile(f, []byte("# till users\ntill-1 pw-till-1\ntill-2\tpw-till-2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return withConfig(func(c *config.Config) { c.NATS.Embedded.Auth.UsersFile = f })
}

// rolesCases runs fn against the default and the hardened configurations,
// with the harness's register connected as that configuration requires.
func rolesCases(t *testing.T, fn func(t *testing.T, h *harness)) {
	for _, tc := range []struct {
		name string
		opts []harnessOpt
	}{{"default", nil}, {"hardened", []harnessOpt{hardenedNATS(t)}}, {"users file", []harnessOpt{perRegisterUsers(t)}}} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarnessNoRegister(t, tc.opts...)
			useRegister(t, h, attackConn(t, h, nil))
			fn(t, h)
		})
	}
}

// useRegister makes nc the harness's register connection.
func useRegister(t *testing.T, h *harness, nc *nats.Conn) {
	t.Helper()
	h.nc = nc
	rc, err := register.New(nc, h.cfg.NATS.SubjectPrefix, h.cfg.StoreID)
	if err != nil {
		t.Fatal(err)
	}
	h.rc = rc
	if _, err := nc.Subscribe(h.cfg.NATS.SubjectPrefix+"."+h.cfg.StoreID+".*.evt.>", func(m *nats.Msg) {
		r := register.Received{Subject: m.Subject, MsgID: m.Header.Get(jetstream.MsgIDHeader), Raw: m.Data}
		_ = json.Unmarshal(m.Data, &r.Event)
		h.addEvent(r)
	}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

// TestAttackForgedEvent: a register publishes a "processed" event for a
// sale awaiting payment. The server refuses it; no subscriber gets it, the
// events stream does not keep it, and the sale is still unpaid.
func TestAttackForgedEvent(t *testing.T) {
	rolesCases(t, func(t *testing.T, h *harness) {
		h.send("POS1", "sale", `{"sale_id":"victim","total_amount":"99.00"}`)
		created := h.waitSale("victim", "created")

		ref := newRefusals()
		attacker := attackConn(t, h, ref)
		forged := `{"sale_id":"victim","order_id":"` + created.Event.OrderID + `","status":"processed","status_detail":"accredited","external_pos_id":"POS1","total_amount":"99.00","at":"2026-01-01T00:00:00.000Z"}`
		subject := "pos.S1.POS1.evt.processed"
		if err := attacker.Publish(subject, []byte(forged)); err != nil {
			t.Fatal(err)
		}
		ref.wait(t, "publish", subject)
		// A JetStream publish of the same is refused too: no PubAck. It
		// waits for one until the server's refusal arrives.
		js, err := jetstream.New(attacker)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		acked := make(chan *jetstream.PubAck, 1)
		go func() {
			ack, _ := js.Publish(ctx, subject, []byte(forged))
			acked <- ack
		}()
		ref.waitN(t, "publish", subject, 2)
		cancel()
		if ack := <-acked; ack != nil {
			t.Fatalf("forged event stored: %+v", ack)
		}

		// Barrier: a later sale's events. The forged message, had it been
		// delivered or stored, would have come before them.
		h.send("POS3", "sale", `{"sale_id":"after","total_amount":"1.00"}`)
		h.waitSale("after", "created")
		for _, r := range h.eventsOf("victim") {
			if r.Event.Status == "processed" {
				t.Fatalf("forged event delivered: %s", r.Raw)
			}
		}
		for _, r := range h.storedEvents() {
			if r.Event.SaleID == "victim" && r.Event.Status == "processed" {
				t.Fatalf("forged event stored: %s", r.Raw)
			}
		}
		if st := h.status("POS1"); st.State != "awaiting_payment" || st.SaleID != "victim" {
			t.Fatalf("status after the forgery: %+v", st)
		}
	})
}

// TestAttackAgentOnlySubjects: a register tries, one message each, to read
// and write the sale records, delete the command consumers, purge or delete
// the streams, acknowledge commands, and to listen where only the agent
// listens. Every one is refused by the server, and the agent goes on
// serving with its records, consumers and streams intact.
func TestAttackAgentOnlySubjects(t *testing.T) {
	rolesCases(t, func(t *testing.T, h *harness) {
		h.send("POS1", "sale", `{"sale_id":"s1","total_amount":"10.00"}`)
		created := h.waitSale("s1", "created")
		if err := h.sim.Pay(created.Event.OrderID); err != nil {
			t.Fatal(err)
		}
		h.waitSale("s1", "processed")
		storedBefore := len(h.storedEvents())

		ref := newRefusals()
		attacker := attackConn(t, h, ref)
		kv, cons := "KV_posagent_S1", "posagent_S1_POS1"
		publishes := []string{
			"$KV.posagent_S1.forged",                    // write a sale record
			"$JS.API.DIRECT.GET." + kv,                  // read one
			"$JS.API.STREAM.MSG.GET." + kv,              // read one
			"$JS.API.STREAM.INFO." + kv,                 // inspect the bucket
			"$JS.API.CONSUMER.CREATE." + kv,             // watch the bucket
			"$JS.API.STREAM.PURGE." + kv,                // erase the records
			"$JS.API.CONSUMER.DELETE.POS_CMD." + cons,   // stop a POS
			"$JS.API.CONSUMER.CREATE.POS_CMD",           // steal commands
			"$JS.API.CONSUMER.MSG.NEXT.POS_CMD." + cons, // steal commands
			"$JS.ACK.POS_CMD." + cons + ".1.1.1.1.0",    // drop a command
			"$JS.API.STREAM.PURGE.POS_EVT",              // erase the events
			"$JS.API.STREAM.DELETE.POS_EVT",             // delete the events
			"$JS.API.STREAM.MSG.DELETE.POS_EVT",         // delete one event
			"$JS.API.STREAM.DELETE.POS_CMD",             // delete the commands
			"$JS.API.STREAM.UPDATE.POS_EVT",             // rewrite the stream
			"$JS.API.STREAM.CREATE.EVIL",                // capture subjects
			"$JS.API.CONSUMER.DELETE.POS_EVT.x",         // others' event readers
			"pos.S1.POS1.evt.canceled",                  // any event
			embeddednats.AgentInboxPrefix + ".x",        // answer for the server
			"pos.S2.POS1.cmd.sale",                      // another store's POS
		}
		for _, s := range publishes {
			if err := attacker.Publish(s, []byte(`{}`)); err != nil {
				t.Fatal(err)
			}
			ref.wait(t, "publish", s)
		}
		subscriptions := []string{
			">",
			"$KV.>",
			embeddednats.AgentInboxPrefix + ".>", // the agent's replies: sale records, commands
			"pos.S1.*.cmd.>",                     // other registers' commands
			"$SRV.>",                             // answer discovery as a fake agent
			"pos.S1.POS1.status",                 // answer status as a fake agent
			"$JS.API.>",
		}
		for _, s := range subscriptions {
			if _, err := attacker.SubscribeSync(s); err != nil {
				t.Fatal(err)
			}
			ref.wait(t, "subscription", s)
		}

		// A consumer on the events stream is a register's right, but its
		// deliveries must not become a way to write the records or call the
		// JetStream API: nats-server delivers only to client interest,
		// which these subjects cannot have.
		js, err := jetstream.New(attacker)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		var pushed []jetstream.Consumer
		for _, deliver := range []string{"$KV.posagent_S1.forged", "$JS.API.STREAM.PURGE." + kv} {
			c, err := js.CreateOrUpdateConsumer(ctx, "POS_EVT", jetstream.ConsumerConfig{DeliverSubject: deliver, AckPolicy: jetstream.AckNonePolicy})
			if err != nil {
				continue // refused outright is fine too
			}
			pushed = append(pushed, c)
		}

		// The agent still has its consumers, records and streams: a resent
		// sale replays from the records, a new one goes through, and the
		// events stream kept everything.
		h.send("POS1", "sale", `{"sale_id":"s1","total_amount":"10.00"}`)
		h.waitEvent("s1 replay", func(r register.Received) bool { return r.Event.SaleID == "s1" && r.Event.Replay })
		h.send("POS1", "sale", `{"sale_id":"s2","total_amount":"11.00"}`)
		h.waitSale("s2", "created")
		h.settled("POS1") // the event is stored once its command is done, not when a subscriber sees it
		stored := h.storedEvents()
		if !slices.ContainsFunc(stored, func(r register.Received) bool { return r.Event.SaleID == "s2" && r.Event.Status == "created" }) ||
			len(stored) < storedBefore+1 {
			t.Fatalf("events stream has %d events (had %d) and s2's created among them: %v", len(stored), storedBefore,
				slices.ContainsFunc(stored, func(r register.Received) bool { return r.Event.SaleID == "s2" }))
		}
		for _, c := range pushed {
			info, err := c.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if info.PushBound {
				t.Errorf("push consumer to %s is delivering", info.Config.DeliverSubject)
			}
		}
	})
}

// TestRegisterRoleStillWorks: everything a register legitimately does on
// NATS works under the register role: JetStream publish with a PubAck and
// a core publish, live events, the events stream read back with an
// ordered consumer (as nats.go's jetstream, nats.js and `nats stream
// view` do), a durable pull consumer with acks, a legacy push ordered
// consumer with flow control (as `nats sub --stream` does), the status
// request and micro discovery ($SRV, as `posagent fleet` and `posagent
// status` do).
func TestRegisterRoleStillWorks(t *testing.T) {
	rolesCases(t, func(t *testing.T, h *harness) {
		seq := h.send("POS1", "sale", `{"sale_id":"r1","total_amount":"10.00"}`)
		if seq == 0 {
			t.Fatal("no PubAck sequence")
		}
		created := h.waitSale("r1", "created")
		if err := h.sim.Pay(created.Event.OrderID); err != nil {
			t.Fatal(err)
		}
		h.waitSale("r1", "processed")
		if err := h.nc.Publish("pos.S1.POS3.cmd.sale", []byte(`{"sale_id":"r2","total_amount":"2.00"}`)); err != nil {
			t.Fatal(err)
		}
		h.waitSale("r2", "created")
		eventStored(t, h.nc, "r1", "processed")
		if st := h.status("POS3"); st.State != "awaiting_payment" || st.SaleID != "r2" {
			t.Fatalf("status: %+v", st)
		}

		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		js, err := jetstream.New(h.nc)
		if err != nil {
			t.Fatal(err)
		}
		durable, err := js.CreateOrUpdateConsumer(ctx, "POS_EVT", jetstream.ConsumerConfig{Durable: "till-1",
			FilterSubject: "pos.S1.POS1.evt.>", AckPolicy: jetstream.AckExplicitPolicy})
		if err != nil {
			t.Fatalf("durable consumer on the events stream: %v", err)
		}
		batch, err := durable.Fetch(2, jetstream.FetchMaxWait(wait))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			if err := m.DoubleAck(ctx); err != nil {
				t.Fatalf("ack: %v", err)
			}
			n++
		}
		if n != 2 {
			t.Fatalf("durable fetch got %d events (%v)", n, batch.Error())
		}

		legacy, err := h.nc.JetStream()
		if err != nil {
			t.Fatal(err)
		}
		sub, err := legacy.SubscribeSync("pos.S1.POS1.evt.>", nats.OrderedConsumer())
		if err != nil {
			t.Fatalf("legacy ordered push consumer: %v", err)
		}
		if m, err := sub.NextMsg(wait); err != nil || !strings.Contains(string(m.Data), `"r1"`) {
			t.Fatalf("legacy ordered consumer: %v", err)
		}
		// Drain, not Unsubscribe: both ask the server to delete the
		// consumer, which a register may not do, and Unsubscribe waits
		// out the refused request (5 s); Drain asks in the background.
		// The server removes the consumer once nothing listens.
		_ = sub.Drain()

		var rows []fleet.Row
		sum, err := fleet.Collect(ctx, h.nc, fleet.Options{Timeout: wait, Quiet: -1, Expect: 1}, func(r fleet.Row) { rows = append(rows, r) })
		if err != nil || sum.Agents != 1 || sum.POS != 3 || sum.Failed != 0 {
			t.Fatalf("discovery as a register: %+v %v %+v", sum, err, rows)
		}
	})
}

// TestAgentUserOnlyInProcess: the agent's user cannot be used over the
// network, whatever the password.
func TestAgentUserOnlyInProcess(t *testing.T) {
	h := newHarnessNoRegister(t)
	_, err := nats.Connect(h.agent.NATSURL(), nats.UserInfo(embeddednats.AgentUser, "guess"))
	if !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("agent user over TCP: %v", err)
	}
}

// eventStored waits until the events stream holds the event of saleID
// with status, reading it over nc (a register's connection, in the tests
// that check what a register may read).
func eventStored(t testing.TB, nc *nats.Conn, saleID, status string) {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	waitStored(t, js, "POS_EVT", saleID+" "+status, func(m jetstream.Msg) bool {
		var ev struct {
			SaleID string `json:"sale_id"`
			Status string `json:"status"`
		}
		return json.Unmarshal(m.Data(), &ev) == nil && ev.SaleID == saleID && ev.Status == status
	})
}

// agentConn is a connection with the agent's rights on its embedded
// server, for tests that inspect what only the agent may see; on an
// external test server (no roles) the harness's own connection.
func (h *harness) agentConn() *nats.Conn {
	h.t.Helper()
	h.mu.Lock()
	srv := h.agent.embedded
	h.mu.Unlock()
	var nc *nats.Conn
	var err error
	switch {
	case srv != nil:
		nc, err = srv.Connect()
	case h.cfg.NATS.Auth.User != "":
		// An external server: the agent's user, with its inbox prefix.
		var pw []byte
		if pw, err = os.ReadFile(h.cfg.NATS.Auth.PasswordFile); err != nil {
			h.t.Fatal(err)
		}
		nc, err = nats.Connect(h.cfg.NATS.URL, nats.UserInfo(h.cfg.NATS.Auth.User, strings.TrimSpace(string(pw))),
			nats.CustomInboxPrefix(embeddednats.AgentInboxPrefix))
	default:
		return h.nc
	}
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(nc.Close)
	return nc
}

// TestAttackReplySubjectInjection: a register sends requests whose reply
// subject is a sale record or an event subject, so that whoever answers —
// the agent's status service and $SRV discovery, JetStream's PubAck, the
// JetStream API — publishes its answer there. nats-server checks no
// permission on a reply subject: in one account every one of these
// landed (four sale records and a stored "processed" that was a discovery
// reply). With the registers in an account of their own each request
// crosses a service import, which gives it a private reply subject.
// TestExternalServerRoles runs the same attack on deploy/nats/posagent.conf.
func TestAttackReplySubjectInjection(t *testing.T) {
	rolesCases(t, func(t *testing.T, h *harness) { attackReplySubjects(t, h, "S1") })
}

// attackReplySubjects sends the requests with forged reply subjects from
// h's register at store, then checks that no sale record was written and
// nothing but events was stored in the events stream.
func attackReplySubjects(t *testing.T, h *harness, store string) {
	t.Helper()
	h.send("POS1", "sale", `{"sale_id":"inject1","total_amount":"10.00"}`)
	h.waitSale("inject1", "created")
	kvSubject := "$KV.posagent_" + store + "."
	for reply, subject := range map[string]string{
		kvSubject + "evil1":                    "pos." + store + ".POS1.status",
		kvSubject + "evil2":                    "$SRV.INFO",
		kvSubject + "evil3":                    "$JS.API.STREAM.INFO.POS_EVT",
		"pos." + store + ".POS1.evt.processed": "$SRV.PING",
	} {
		if err := h.nc.PublishRequest(subject, reply, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.nc.PublishRequest("pos."+store+".POS3.cmd.display", kvSubject+"evil4", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	// Barrier: a later sale's event; the answers above came before it.
	h.send("POS3", "sale", `{"sale_id":"inject-after","total_amount":"1.00"}`)
	h.waitSale("inject-after", "created")
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	js, err := jetstream.New(h.agentConn())
	if err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(ctx, "posagent_"+store)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"evil1", "evil2", "evil3", "evil4"} {
		if e, err := kv.Get(ctx, k); err == nil {
			t.Errorf("sale record %s written through a reply subject: %.80s", k, e.Value())
		}
	}
	for _, r := range h.storedEvents() {
		if r.Event.SaleID == "" && r.Event.Status == "" {
			t.Errorf("not an event stored on %s: %.80s", r.Subject, r.Raw)
		}
	}
}
