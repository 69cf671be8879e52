package agent

// The roles on an external server: deploy/nats/posagent.conf run by a
// real nats-server, the agent connected as its user, a register as the
// register user. The same attacks as on the embedded server fail, and the
// same register actions work.

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/posagent/posagent/internal/config"
	"github.com/posagent/posagent/internal/embeddednats"
	"github.com/posagent/posagent/internal/fleet"
)

// startDeployedNATS runs deploy/nats/posagent.conf on a random port with
// its JetStream in a temporary directory.
func startDeployedNATS(t *testing.T) (*server.Server, *server.Options) {
	t.Helper()
	t.Setenv("POSAGENT_AGENT_PASSWORD", "agent-pw-7d2e")
	t.Setenv("REGISTER_PASSWORD", "register-pw-91ac")
	opts, err := server.ProcessConfigFile("../../deploy/nats/posagent.conf")
	if err != nil {
		t.Fatalf("deploy/nats/posagent.conf: %v", err)
	}
	opts.Host, opts.Port, opts.StoreDir = "127.0.0.1", -1, t.TempDir()
	opts.NoSigs, opts.NoLog = true, true
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	if !ns.ReadyForConnections(wait) {
		t.Fatal("nats-server not ready")
	}
	return ns, opts
}

// TestDeployedRegisterRoleMatchesEmbedded: the example server
// configuration gives registers exactly the embedded server's register
// role.
func TestDeployedRegisterRoleMatchesEmbedded(t *testing.T) {
	_, opts := startDeployedNATS(t)
	want := embeddednats.RegisterPermissions(embeddednats.Roles{Prefix: "pos", StoreID: "S001", EventsStream: "POS_EVT"})
	for _, u := range opts.Users {
		if u.Username != "register" {
			continue
		}
		got := u.Permissions
		for _, pair := range [][2][]string{{got.Publish.Allow, want.Publish.Allow}, {got.Subscribe.Allow, want.Subscribe.Allow}} {
			a, b := slices.Clone(pair[0]), slices.Clone(pair[1])
			slices.Sort(a)
			slices.Sort(b)
			if !reflect.DeepEqual(a, b) {
				t.Errorf("deploy/nats/posagent.conf register role:\n%s\nembedded:\n%s", strings.Join(a, " "), strings.Join(b, " "))
			}
		}
		return
	}
	t.Fatal("no register user in deploy/nats/posagent.conf")
}

// TestExternalServerRoles: posagent against deploy/nats/posagent.conf.
func TestExternalServerRoles(t *testing.T) {
	ns, _ := startDeployedNATS(t)
	pw := filepath.Join(t.TempDir(), "nats-agent-password")
	if err := os.WriteFile(pw, []byte("agent-pw-7d2e\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, token: testToken().Reveal(), logBuf: &syncBuffer{}, noRegister: true, ns: ns}
	h.setup(withConfig(func(c *config.Config) {
		c.StoreID = "S001"
		c.NATS.Auth = config.NATSAuth{User: "posagent-S001", PasswordFile: pw}
	}))
	register := func(ref *refusals) *nats.Conn {
		opts := []nats.Option{nats.UserInfo("register", "register-pw-91ac")}
		if ref != nil {
			opts = append(opts, nats.ErrorHandler(ref.handler))
		}
		nc, err := nats.Connect(ns.ClientURL(), opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		return nc
	}
	useRegister(t, h, register(nil))

	// What a register does.
	h.send("POS1", "sale", `{"sale_id":"x1","total_amount":"4.00"}`)
	created := h.waitSale("x1", "created")
	eventStored(t, h.nc, "x1", "created")
	if st := h.status("POS1"); st.State != "awaiting_payment" {
		t.Fatalf("status: %+v", st)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if sum, err := fleet.Collect(ctx, h.nc, fleet.Options{Timeout: wait, Quiet: -1, Expect: 1}, func(fleet.Row) {}); err != nil || sum.Agents != 1 {
		t.Fatalf("discovery: %+v %v", sum, err)
	}

	// What it may not.
	ref := newRefusals()
	attacker := register(ref)
	for _, s := range []string{"pos.S001.POS1.evt.processed", "$KV.posagent_S001.x", "$JS.API.DIRECT.GET.KV_posagent_S001",
		"$JS.API.STREAM.PURGE.POS_EVT", "$JS.API.CONSUMER.DELETE.POS_CMD.posagent_S001_POS1", "$JS.API.STREAM.DELETE.POS_CMD"} {
		if err := attacker.Publish(s, []byte(`{"sale_id":"x1","status":"processed"}`)); err != nil {
			t.Fatal(err)
		}
		ref.wait(t, "publish", s)
	}
	for _, s := range []string{embeddednats.AgentInboxPrefix + ".>", "$KV.>", "pos.S001.*.cmd.>", "$SRV.>"} {
		if _, err := attacker.SubscribeSync(s); err != nil {
			t.Fatal(err)
		}
		ref.wait(t, "subscription", s)
	}
	js, err := jetstream.New(attacker)
	if err != nil {
		t.Fatal(err)
	}
	short, cancelShort := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancelShort()
	if _, err := js.KeyValue(short, "posagent_S001"); err == nil {
		t.Fatal("a register opened the sale records")
	}

	// The agent carries on: the sale is paid, and nothing forged counted.
	if err := h.sim.Pay(created.Event.OrderID); err != nil {
		t.Fatal(err)
	}
	h.waitSale("x1", "processed")
	for _, r := range h.storedEvents() {
		if r.Event.SaleID == "x1" && r.Event.Status == "processed" && r.Event.OrderID != created.Event.OrderID {
			t.Fatalf("forged event stored: %s", r.Raw)
		}
	}
	attackReplySubjects(t, h, "S001")
}
