package embeddednats

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/posagent/posagent/internal/secret"
)

// TestRoles: the agent's user works in-process only, even with its
// password; each configured register logs in with its own password and
// gets the register role; anonymous clients are refused once users exist,
// and get the register role when none do.
func TestRoles(t *testing.T) {
	roles := Roles{Prefix: "pos", StoreID: "S1", EventsStream: "POS_EVT"}
	t.Run("registers with their own users", func(t *testing.T) {
		o := testOptions(t)
		o.Roles = roles
		o.User, o.Password = "till-0", secret.New("pw-0")
		o.Registers = []Credential{{User: "till-1", Password: secret.New("pw-1")}, {User: "till-2", Password: secret.New("pw-2")}}
		rec := &recorder{}
		o.Logger = slog.New(rec)
		s := start(t, o)
		defer func() {
			for _, r := range rec.all() {
				if strings.Contains(r.msg, s.password.Reveal()) {
					t.Errorf("the agent's password logged: %q", r.msg)
				}
			}
		}()
		if _, err := nats.Connect(s.ClientURL(), nats.UserInfo(AgentUser, s.password.Reveal())); !errors.Is(err, nats.ErrAuthorization) {
			t.Fatalf("the agent's user over TCP with its password: %v", err)
		}
		if _, err := nats.Connect(s.ClientURL()); !errors.Is(err, nats.ErrAuthorization) {
			t.Fatalf("anonymous client: %v", err)
		}
		if _, err := nats.Connect(s.ClientURL(), nats.UserInfo("till-1", "pw-2")); !errors.Is(err, nats.ErrAuthorization) {
			t.Fatalf("another register's password: %v", err)
		}
		for _, c := range []Credential{{User: "till-0", Password: o.Password}, o.Registers[0], o.Registers[1]} {
			checkRegisterRole(t, s, nats.UserInfo(c.User, c.Password.Reveal()))
		}
	})
	t.Run("anonymous registers", func(t *testing.T) {
		o := testOptions(t)
		o.Roles = roles
		checkRegisterRole(t, start(t, o))
	})
	t.Run("bad users", func(t *testing.T) {
		for _, regs := range [][]Credential{
			{{User: AgentUser, Password: secret.New("x")}},
			{{User: "a", Password: secret.New("x")}, {User: "a", Password: secret.New("y")}},
			{{User: "a"}},
		} {
			o := testOptions(t)
			o.Registers = regs
			if _, err := Start(o); err == nil || !strings.Contains(err.Error(), "register user") {
				t.Errorf("%v: %v", regs[0].User, err)
			}
		}
	})
}

// checkRegisterRole: a register may send a command but not an event; the
// agent's in-process connection may publish the event.
func checkRegisterRole(t *testing.T, s *Server, opts ...nats.Option) {
	t.Helper()
	errs := make(chan error, 10)
	reg := connectTCP(t, s.ClientURL(), append(opts, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))...)
	agent, err := s.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer agent.Close()
	cmds, err := agent.SubscribeSync("pos.S1.*.cmd.>")
	if err != nil {
		t.Fatal(err)
	}
	evts, err := reg.SubscribeSync("pos.S1.*.evt.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := agent.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := reg.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := reg.Publish("pos.S1.P1.evt.processed", []byte("forged")); err != nil {
		t.Fatal(err)
	}
	if err := <-errs; !strings.Contains(strings.ToLower(err.Error()), `permissions violation for publish to "pos.s1.p1.evt.processed"`) {
		t.Fatalf("forged event: %v", err)
	}
	if err := reg.Publish("pos.S1.P1.cmd.sale", []byte("sale")); err != nil {
		t.Fatal(err)
	}
	if m, err := cmds.NextMsg(readyTimeout); err != nil || string(m.Data) != "sale" {
		t.Fatalf("command: %v", err)
	}
	if err := agent.Publish("pos.S1.P1.evt.created", []byte("real")); err != nil {
		t.Fatal(err)
	}
	if m, err := evts.NextMsg(readyTimeout); err != nil || string(m.Data) != "real" {
		t.Fatalf("the agent's event: %v (a forged one would have come first)", err)
	}
}

// TestUpgradeKeepsStreams: a store written before the registers had an
// account of their own (one account, no roles) is opened with the roles:
// the agent still finds its streams and their messages, and a register
// reads the events through the import.
func TestUpgradeKeepsStreams(t *testing.T) {
	ctx := context.Background()
	o := testOptions(t)
	s := start(t, o)
	nc, err := s.Connect()
	if err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "POS_EVT", Subjects: []string{"pos.S1.*.evt.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "pos.S1.POS1.evt.created", []byte(`{"sale_id":"old"}`)); err != nil {
		t.Fatal(err)
	}
	nc.Close()
	s.Shutdown()

	o.Roles = Roles{Prefix: "pos", StoreID: "S1", EventsStream: "POS_EVT"}
	s = start(t, o)
	nc, err = s.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ = jetstream.New(nc)
	st, err := js.Stream(ctx, "POS_EVT")
	if err != nil || st.CachedInfo().State.Msgs != 1 {
		t.Fatalf("the agent's stream after the upgrade: %v", err)
	}
	rc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	rjs, _ := jetstream.New(rc)
	rst, err := rjs.Stream(ctx, "POS_EVT")
	if err != nil {
		t.Fatalf("a register opening the events stream: %v", err)
	}
	m, err := rst.GetMsg(ctx, 1)
	if err != nil || string(m.Data) != `{"sale_id":"old"}` {
		t.Fatalf("a register reading the old event: %v", err)
	}
}
