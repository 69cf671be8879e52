// Package soak provides posagent's chaos soak test (issues #3 and #7): the
// real posagent binary serving many POS while it is killed with SIGKILL and
// restarted, the NATS server under it is restarted, the Orders API
// simulator answers with 500/429 bursts, hangs, lost answers, slow
// responses and outages, and two POS print on pseudo-terminal printers that
// stall and get unplugged. Registers in the test process ring up sales the
// whole time (pay, cancel or let expire; some resent on purpose), and at
// the end the test proves from the POS_EVT stream and the simulator's
// orders that no sale was lost or duplicated and that every event told the
// truth, and prints the result table (also written as markdown with
// -soak.report).
//
// The test is behind the build tag `soak` so that `go test ./...` stays
// fast, and needs Linux (pseudo-terminals, Pdeathsig):
//
//	go test -tags soak -run Soak -timeout 20m -v ./internal/soak -soak.race           # CI size: 300 sales, 10 POS
//	go test -tags soak -run Soak -timeout 60m -v ./internal/soak -soak.sales 1000     # full size
//
// Flags, each also read from the environment variable in brackets when
// the flag is not given:
//
//	-soak.sales N          sales in the run (300) [SOAK_SALES]
//	-soak.pos N            POS; the last two are static and hybrid when N >= 3 (10) [SOAK_POS]
//	-soak.seed N           the plan's seed; 0 picks one and prints it [SOAK_SEED]
//	-soak.report FILE      also write the table as markdown [SOAK_REPORT]
//	-soak.keep DIR         keep the run's files (agent logs, config, NATS store) under DIR [SOAK_KEEP]
//	-soak.kills N          agent SIGKILLs (max(4, sales/60)) [SOAK_KILLS]
//	-soak.nats-restarts N  NATS server restarts (max(1, sales/300)) [SOAK_NATS_RESTARTS]
//	-soak.outages N        API outages longer than the retry budget (max(1, sales/250)) [SOAK_OUTAGES]
//	-soak.printer-chaos    pty printers that stall and disappear (true) [SOAK_PRINTER_CHAOS]
//	-soak.race             build the agent with -race; a race report in its logs fails the run [SOAK_RACE]
//
// The seed fixes the plan (amounts, how each sale ends, when chaos
// strikes, which faults are injected); the run itself is at the mercy of
// the scheduler, which is the point of a soak. A failing run prints its
// seed; rerun it with -soak.keep to read the agent's logs.
//
// The power-cut soak (issue #14, powercut_test.go, TestPowerCut) runs the
// agent with its embedded NATS server and state_dir on tools/powercutfs,
// a FUSE file system that forgets whatever was not fsynced when the test
// cuts the power, and cuts it again and again while registers sell:
//
//	go test -tags soak -run PowerCut -timeout 20m -v ./internal/soak                                  # CI size: 4 cuts
//	go test -tags soak -run PowerCut -timeout 55m -v ./internal/soak -powercut.cuts 60 -powercut.sales 600 -powercut.pos 6
//
// with -powercut.sync (the agent's nats.embedded.sync) and
// -powercut.fsmode (journal or strict); docs/durability.md has the
// figures.
//
// Nothing here waits by sleeping: every wait is on an event, a channel or a
// condition with a deadline; timers only schedule chaos and pace retries.
package soak
