package agent

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/posagent/posagent/internal/config"
	"github.com/posagent/posagent/internal/natsconn"
	"github.com/posagent/posagent/internal/register"
)

func TestEmbeddedNATSAuthForRegisters(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "nats-password")
	if err := os.WriteFile(pwFile, []byte("register-secret-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := newHarnessNoRegister(t, withConfig(func(c *config.Config) {
		c.NATS.Embedded.Auth.User = "register"
		c.NATS.Embedded.Auth.PasswordFile = pwFile
	}))
	url := h.agent.NATSURL()
	if _, err := nats.Connect(url); err == nil {
		t.Fatal("anonymous client accepted by an embedded server with auth")
	}
	// The register-side tools connect with the configured user.
	cfg := *h.cfg
	_, port, _ := splitHostPort(url)
	cfg.NATS.Embedded.Listen = "127.0.0.1:" + port
	u, opts, err := natsconn.Register(&cfg, os.ReadFile)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(u, opts...)
	if err != nil {
		t.Fatalf("register with credentials refused: %v", err)
	}
	defer nc.Close()
	rc, err := register.New(nc, "pos", "S1")
	if err != nil {
		t.Fatal(err)
	}
	ch, stop, err := rc.Watch("POS1")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	seq, err := rc.Send(ctx, "POS1", "sale", []byte(`{"sale_id":"au1","total_amount":"1.00"}`))
	if err != nil {
		t.Fatal(err)
	}
	r, err := register.Follow(ctx, ch, "au1", seq, func(r register.Received) bool { return r.Event.Status == "created" }, nil)
	if err != nil || r.Event.Status != "created" {
		t.Fatalf("%+v %v", r, err)
	}
	if contains(h.logBuf.String(), "register-secret-pw") {
		t.Fatal("NATS password in the log")
	}
}
