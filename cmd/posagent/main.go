// Command posagent is the point-of-sale agent: it takes sale totals from
// the cash register over NATS, creates Mercado Pago QR orders, shows and
// prints their QR, and tells the register when they are paid. See
// README.md and docs/ for the commands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/posagent/posagent/internal/version"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// Exit codes: 0 success, 1 runtime failure or refusal, 2 usage or
// configuration error; `run` exits 78 (EX_CONFIG, sysexits.h) on a
// configuration or token error instead, because the Go runtime itself
// exits 2 on a panic and on SIGABRT (the systemd watchdog's signal), which
// systemd must restart, while 78 is the one exit it must not restart
// (RestartPreventExitStatus=78, deploy/systemd/README.md).
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
	exitConfig  = 78
)

// usageError is a bad command line or configuration: exit 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// configError is the daemon's configuration or token error: exit 78.
type configError struct{ err error }

func (e configError) Error() string { return e.err.Error() }
func (e configError) Unwrap() error { return e.err }

// silentError carries an exit code whose reason was already printed.
type silentError struct{ code int }

func (e silentError) Error() string { return fmt.Sprintf("exit %d", e.code) }

func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	var s silentError
	if errors.As(err, &s) {
		return s.code
	}
	fmt.Fprintln(stderr, "posagent:", err)
	var c configError
	if errors.As(err, &c) {
		return exitConfig
	}
	var u usageError
	if errors.As(err, &u) {
		return exitUsage
	}
	return exitFailure
}

const usage = `usage: posagent <command> [flags]

commands:
  run          -config FILE [-log-format text|json|journal]   the daemon
  demo         a zero-setup tour: embedded NATS, the Orders API simulator, one sale to "paid"
  simulate     -listen ADDR [-token T] [-pos ID,...]          the Orders API simulator as an HTTP server
  sale         -config FILE -pos ID -amount A [-sale-id X] [-mode M] [-wait 30s] [-json]
  cancel       -config FILE -pos ID -sale-id X [-wait 30s] [-json]
  refund       -config FILE -pos ID -sale-id X [-amount A -refund-id R] [-wait 30s] [-json]
  config check -config FILE
  print-test   -config FILE [-pos ID]
  display-test -config FILE [-pos ID]
  order        create|get|cancel|refund ...                   talk to the Orders API directly
  status       -config FILE [-json]                           this store's agent: POS, health, version, uptime
  fleet        -nats URL [-creds F] [-json] [-timeout 2s] [-expect N]   every agent and POS on a NATS system (head office)
  version
`

// run is the whole program; only main exits.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return silentError{exitUsage}
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "run":
		return cmdRun(ctx, rest, stdout, stderr)
	case "demo":
		return cmdDemo(ctx, rest, stdout, stderr)
	case "simulate":
		return cmdSimulate(ctx, rest, stdout, stderr)
	case "sale", "cancel", "refund":
		return cmdRegister(ctx, cmd, rest, stdout, stderr)
	case "config":
		if len(rest) == 0 || rest[0] != "check" {
			return usagef("config: want 'config check -config FILE'")
		}
		return cmdConfigCheck(rest[1:], stdout, stderr)
	case "print-test":
		return cmdPrintTest(ctx, rest, stdout, stderr)
	case "display-test":
		return cmdDisplayTest(ctx, rest, stdout, stderr)
	case "order":
		return cmdOrder(ctx, rest, stdout, stderr)
	case "fleet":
		return cmdFleet(ctx, rest, stdout, stderr)
	case "status":
		return cmdStatus(ctx, rest, stdout, stderr)
	case "version", "-version", "--version":
		if len(rest) > 0 {
			fmt.Fprintln(stderr, "usage: posagent version")
			return usagef("version takes no arguments, got %q", rest)
		}
		fmt.Fprintln(stdout, version.String())
		return nil
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return usagef("unknown command %q", cmd)
}
