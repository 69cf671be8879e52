package agent

// The nats CLI (natscli) as a register, on the default and the hardened
// configuration: what the README and docs show a register or store IT
// doing with it works, what only the agent may do fails. It needs the
// binary: POSAGENT_NATS_CLI names it (.ci/run builds natscli v0.5.1);
// without, the test is skipped.

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/posagent/posagent/internal/natsconn"
)

func TestNatsCLIAsRegister(t *testing.T) {
	bin := os.Getenv("POSAGENT_NATS_CLI")
	if bin == "" {
		t.Skip("POSAGENT_NATS_CLI not set: no natscli binary to run")
	}
	rolesCases(t, func(t *testing.T, h *harness) {
		cfg := *h.cfg
		_, port, err := splitHostPort(h.agent.NATSURL())
		if err != nil {
			t.Fatal(err)
		}
		cfg.NATS.Embedded.Listen = "127.0.0.1:" + port
		url, _, err := natsconn.Register(&cfg, os.ReadFile)
		if err != nil {
			t.Fatal(err)
		}
		base := []string{"--server", url, "--timeout", "2s", "--no-context"}
		if u := h.cfg.NATS.Embedded.Auth.User; u != "" {
			pw, err := os.ReadFile(h.cfg.NATS.Embedded.Auth.PasswordFile)
			if err != nil {
				t.Fatal(err)
			}
			base = append(base, "--user", u, "--password", strings.TrimSpace(string(pw)))
		} else if f := h.cfg.NATS.Embedded.Auth.UsersFile; f != "" {
			users, err := natsconn.ReadUsersFile(os.ReadFile, f)
			if err != nil {
				t.Fatal(err)
			}
			base = append(base, "--user", users[1].User, "--password", users[1].Password.Reveal())
		}
		nats := func(wantOK bool, want string, args ...string) {
			t.Helper()
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			out, err := exec.CommandContext(ctx, bin, append(base, args...)...).CombinedOutput()
			if (err == nil) != wantOK || !strings.Contains(string(out), want) {
				t.Fatalf("nats %s: %v (want success %v and %q)\n%s", strings.Join(args, " "), err, wantOK, want, out)
			}
		}
		nats(true, `Published`, "pub", "pos.S1.POS1.cmd.sale", `{"sale_id":"n1","total_amount":"5.00"}`)
		h.waitSale("n1", "created")
		nats(true, "Stored in Stream: POS_CMD", "pub", "--jetstream", "pos.S1.POS3.cmd.sale", `{"sale_id":"n2","total_amount":"6.00"}`)
		h.waitSale("n2", "created")
		nats(true, `"awaiting_payment"`, "req", "pos.S1.POS1.status", "")
		nats(true, "posagent", "micro", "ls")
		nats(true, "Received JetStream message", "sub", "--stream", "POS_EVT", "pos.S1.*.evt.>", "--count", "1")
		nats(true, "pos.S1.POS1.evt.created", "stream", "get", "POS_EVT", "1")
		nats(true, "Messages", "stream", "info", "POS_EVT")

		nats(false, "Permissions Violation", "pub", "pos.S1.POS1.evt.processed", `{"sale_id":"n1","status":"processed"}`)
		nats(false, "Permissions Violation", "stream", "purge", "POS_EVT", "-f")
		nats(false, "Permissions Violation", "stream", "rm", "POS_CMD", "-f")
		nats(false, "Permissions Violation", "kv", "get", "posagent_S1", "sale.POS1.n1")
		nats(false, "Permissions Violation", "consumer", "rm", "POS_CMD", "posagent_S1_POS1", "-f")

		// Nothing of it reached the agent's state.
		if st := h.status("POS1"); st.State != "awaiting_payment" || st.SaleID != "n1" {
			t.Fatalf("status after the attempts: %+v", st)
		}
		h.send("POS2", "sale", `{"sale_id":"n3","total_amount":"1.00"}`)
		h.waitSale("n3", "created")
	})
}
