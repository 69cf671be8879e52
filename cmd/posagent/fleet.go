package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/posagent/posagent/internal/fleet"
	"github.com/posagent/posagent/internal/natsconn"
)

// fleetAuth is how `fleet` authenticates to the hub.
func fleetAuth(creds, user, passwordFile, ca string) ([]nats.Option, error) {
	var opts []nats.Option
	if creds != "" {
		opts = append(opts, nats.UserCredentials(creds))
	}
	if user != "" {
		pw, err := os.ReadFile(passwordFile)
		if err != nil {
			return nil, usagef("-password-file: %v", err)
		}
		opts = append(opts, nats.UserInfo(user, strings.TrimSpace(string(pw))))
	}
	if ca != "" {
		opts = append(opts, nats.RootCAs(ca))
	}
	return opts, nil
}

// cmdFleet lists every agent and POS that answers on a NATS system
// (usually head office's hub, which the stores link to as leaf nodes):
// rows are printed as they come, the wait is bounded. Exit 0 when at least
// one agent answered and every POS's status came; 1 otherwise.
func cmdFleet(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("fleet", stderr)
	url := fs.String("nats", nats.DefaultURL, "NATS server URL(s), comma-separated")
	creds := fs.String("creds", "", "a .creds file to authenticate with")
	user := fs.String("user", "", "user name (with -password-file)")
	passwordFile := fs.String("password-file", "", "file holding the user's password")
	ca := fs.String("ca", "", "CA certificate for a tls:// server")
	jsonOut := fs.Bool("json", false, "one JSON object per POS, per line")
	timeout := fs.Duration("timeout", fleet.DefaultTimeout, "how long to wait for agents to answer")
	quiet := fs.Duration("quiet", fleet.DefaultQuiet, "stop waiting once no new agent answered for this long (0: wait the whole -timeout)")
	expect := fs.Int("expect", 0, "stop waiting once this many agents answered")
	concurrency := fs.Int("concurrency", fleet.DefaultConcurrency, "status requests in flight at once")
	store := fs.String("store", "", "only this store_id")
	inbox := fs.String("inbox-prefix", "", "reply subject prefix; at head office "+fleet.HubInboxPrefix+" (configs/hub.conf sends stores no _INBOX traffic)")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	switch {
	case *timeout <= 0:
		return usagef("-timeout %s: must be positive", *timeout)
	case *quiet < 0:
		return usagef("-quiet %s: must not be negative", *quiet)
	case *expect < 0:
		return usagef("-expect %d: must not be negative", *expect)
	case *concurrency < 1:
		return usagef("-concurrency %d: must be at least 1", *concurrency)
	case *creds != "" && *user != "":
		return usagef("-creds and -user: use one way to authenticate")
	case (*user == "") != (*passwordFile == ""):
		return usagef("-user and -password-file go together")
	}
	opts, err := fleetAuth(*creds, *user, *passwordFile, *ca)
	if err != nil {
		return err
	}
	if *inbox != "" {
		opts = append(opts, nats.CustomInboxPrefix(*inbox))
	}
	nc, err := nats.Connect(*url, append(opts, nats.Name("posagent-fleet"), nats.Timeout(*timeout))...)
	if err != nil {
		return fmt.Errorf("connect to NATS at %s: %w", natsconn.RedactURL(*url), err)
	}
	defer nc.Close()

	q := *quiet
	if q == 0 {
		q = -1 // the whole timeout
	}
	began := time.Now()
	table := fleet.NewTable(stdout)
	var werr error
	sum, err := fleet.Collect(ctx, nc, fleet.Options{Timeout: *timeout, Quiet: q, Expect: *expect, Concurrency: *concurrency, StoreID: *store},
		func(r fleet.Row) {
			if werr != nil {
				return
			}
			if *jsonOut {
				werr = fleet.WriteJSON(stdout, r, time.Now())
			} else {
				werr = table.Write(r, time.Now())
			}
		})
	if err != nil {
		return fmt.Errorf("fleet: %w", err)
	}
	if werr != nil {
		return werr
	}
	fmt.Fprintf(stderr, "fleet: %d agent(s), %d POS, %d unreachable, in %s\n", sum.Agents, sum.POS, sum.Failed,
		time.Since(began).Round(time.Millisecond))
	if sum.Agents == 0 || sum.Failed > 0 {
		return silentError{exitFailure}
	}
	return nil
}
