package main

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/posagent/posagent/internal/netgate"
)

// `posagent order create` against an API that does not answer tells the
// person at the terminal what is going on while it retries, instead of
// staying silent for retry_budget.
func TestOrderCreateShowsRetriesOnATerminal(t *testing.T) {
	noTokenEnv(t)
	dir := t.TempDir()
	tok := writeTestFile(t, dir, "mp-access-token", orderToken+"\n", 0o600)
	closed := "http://" + netgate.New(t).Addr() // held, nothing listens there
	cfg := writeTestFile(t, dir, "posagent.yaml", fmt.Sprintf(`store_id: S1
state_dir: %s
mercadopago: {base_url: %q, access_token_file: %s, request_timeout: 1s, retry_budget: 2s}
pos:
  - external_pos_id: POS1
`, dir, closed, tok), 0o600)
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	defer ptmx.Close()
	read := make(chan string, 1)
	go func() {
		var b strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				read <- b.String()
				return
			}
		}
	}()
	var stdout lockedBuffer
	err = run(context.Background(), []string{"order", "create", "-config", cfg, "-pos", "POS1", "-amount", "1.00", "-sale-id", "down1"}, strings.NewReader(""), &stdout, tty)
	tty.Close()
	if err == nil {
		t.Fatal("order create succeeded against a closed port")
	}
	var shown string
	select {
	case shown = <-read:
	case <-time.After(testWait):
		t.Fatal("the terminal was not closed")
	}
	want := regexp.MustCompile(`Orders API: attempt 1 failed \(.*connection refused.*\); next try in [0-9.]+m?s, giving up 2s after the first \(mercadopago.retry_budget\)\. Ctrl-C to stop\.`)
	if !want.MatchString(shown) {
		t.Errorf("no retry progress on the terminal:\n%q", shown)
	}
	if strings.Contains(shown, orderToken) {
		t.Error("the token was shown")
	}
}
