package agent

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	natstest "github.com/nats-io/nats-server/v2/test"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/posagent/posagent/internal/config"
	"github.com/posagent/posagent/internal/register"
)

// TestExternalNATSCreds connects the agent with a .creds file (user JWT and
// NKEY seed) to a server in operator mode, as a NATS deployment managed
// with nsc would be, and runs a sale through it.
func TestExternalNATSCreds(t *testing.T) {
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	opKP, err := nkeys.CreateOperator()
	must(err)
	opPub, _ := opKP.PublicKey()
	sysKP, _ := nkeys.CreateAccount()
	sysPub, _ := sysKP.PublicKey()
	accKP, _ := nkeys.CreateAccount()
	accPub, _ := accKP.PublicKey()
	userKP, _ := nkeys.CreateUser()
	userPub, _ := userKP.PublicKey()
	userSeed, _ := userKP.Seed()

	opClaims := jwt.NewOperatorClaims(opPub)
	opClaims.SystemAccount = sysPub
	opJWT, err := opClaims.Encode(opKP)
	must(err)
	opClaims, err = jwt.DecodeOperatorClaims(opJWT)
	must(err)
	sysJWT, err := jwt.NewAccountClaims(sysPub).Encode(opKP)
	must(err)
	acc := jwt.NewAccountClaims(accPub)
	acc.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
	accJWT, err := acc.Encode(opKP)
	must(err)
	uc := jwt.NewUserClaims(userPub)
	uc.IssuerAccount = accPub
	userJWT, err := uc.Encode(accKP)
	must(err)
	creds, err := jwt.FormatUserConfig(userJWT, userSeed)
	must(err)
	credsFile := filepath.Join(t.TempDir(), "agent.creds")
	must(os.WriteFile(credsFile, creds, 0o600))

	resolver := &server.MemAccResolver{}
	must(resolver.Store(sysPub, sysJWT))
	must(resolver.Store(accPub, accJWT))
	o := natstest.DefaultTestOptions
	o.Port, o.JetStream, o.StoreDir = -1, true, t.TempDir()
	o.TrustedOperators = []*jwt.OperatorClaims{opClaims}
	o.AccountResolver = resolver
	o.SystemAccount = sysPub
	ns := natstest.RunServer(&o)
	defer ns.Shutdown()

	h := newHarnessNoRegister(t, withConfig(func(c *config.Config) {
		c.NATS.URL = ns.ClientURL()
		c.NATS.Auth.CredsFile = credsFile
	}))
	// Anonymous clients are refused by this server; the agent got in.
	if code, body := h.get("/healthz"); code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	if _, err := nats.Connect(ns.ClientURL(), nats.Timeout(5*time.Second)); err == nil {
		t.Fatal("the server accepted an anonymous client")
	}
	nc, err := nats.Connect(ns.ClientURL(), nats.UserCredentials(credsFile))
	must(err)
	defer nc.Close()
	rc, err := register.New(nc, "pos", "S1")
	must(err)
	ch, stop, err := rc.Watch("POS1")
	must(err)
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	seq, err := rc.Send(ctx, "POS1", "sale", []byte(`{"sale_id":"cr1","total_amount":"1.00"}`))
	must(err)
	r, err := register.Follow(ctx, ch, "cr1", seq, func(r register.Received) bool { return r.Event.Status == "created" }, nil)
	if err != nil || r.Event.QRData == "" {
		t.Fatalf("%+v %v", r.Event, err)
	}
}
