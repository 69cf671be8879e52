//go:build soak

package soak

import (
	"context"
	"flag"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/posagent/posagent/internal/qrorder/qrordertest"
)

const (
	store    = "SOAK"
	prefix   = "pos"
	cmdSt    = "POS_CMD"
	evtSt    = "POS_EVT"
	token    = qrordertest.DefaultToken
	staticQR = "00020101021143520016com.mercadolibre0128https://mpago.la/pos/1043915501300091234567895204970053030325802AR5909FULL NAME6010CITY LEGAL63040AAB"
)

var (
	flagSales    = flag.Int("soak.sales", 300, "sales in the run [SOAK_SALES]")
	flagPOS      = flag.Int("soak.pos", 10, "POS served by the agent, one static and one hybrid among them when >= 3 [SOAK_POS]")
	flagSeed     = flag.Uint64("soak.seed", 0, "seed of the plan; 0 picks one and prints it [SOAK_SEED]")
	flagReport   = flag.String("soak.report", "", "also write the result table as markdown to this file [SOAK_REPORT]")
	flagKills    = flag.Int("soak.kills", -1, "agent SIGKILLs; -1: max(4, sales/60) [SOAK_KILLS]")
	flagNATS     = flag.Int("soak.nats-restarts", -1, "NATS server restarts; -1: max(1, sales/300) [SOAK_NATS_RESTARTS]")
	flagOutages  = flag.Int("soak.outages", -1, "API outages longer than the retry budget; -1: max(1, sales/250) [SOAK_OUTAGES]")
	flagKeep     = flag.String("soak.keep", "", "keep the run's files (agent logs, config, NATS store, printer output) in a new directory under this one [SOAK_KEEP]")
	flagRace     = flag.Bool("soak.race", false, "build the agent with the race detector; a race report in its logs fails the run [SOAK_RACE]")
	flagPrinters = flag.Bool("soak.printer-chaos", true, "serve two POS printers from pseudo-terminals that stall and disappear [SOAK_PRINTER_CHAOS]")
)

// size is a run's dimensions, from the flags or the environment.
type size struct {
	sales, pos, kills, natsRestarts, outages int
	seed                                     uint64
	report, keep                             string
	printerChaos, race                       bool
}

func sizeFromFlags() size {
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	intOf := func(name string, v int) int {
		if e := os.Getenv(envName(name)); e != "" && !set[name] {
			if n, err := strconv.Atoi(e); err == nil {
				return n
			}
		}
		return v
	}
	s := size{
		sales: intOf("soak.sales", *flagSales), pos: intOf("soak.pos", *flagPOS),
		kills: intOf("soak.kills", *flagKills), natsRestarts: intOf("soak.nats-restarts", *flagNATS),
		outages: intOf("soak.outages", *flagOutages), seed: *flagSeed, report: *flagReport, printerChaos: *flagPrinters,
	}
	if e := os.Getenv("SOAK_SEED"); e != "" && !set["soak.seed"] {
		s.seed, _ = strconv.ParseUint(e, 10, 64)
	}
	if e := os.Getenv("SOAK_REPORT"); e != "" && !set["soak.report"] {
		s.report = e
	}
	s.keep = *flagKeep
	if e := os.Getenv("SOAK_KEEP"); e != "" && !set["soak.keep"] {
		s.keep = e
	}
	s.race = *flagRace
	if e := os.Getenv("SOAK_RACE"); e != "" && !set["soak.race"] {
		s.race, _ = strconv.ParseBool(e)
	}
	if e := os.Getenv("SOAK_PRINTER_CHAOS"); e != "" && !set["soak.printer-chaos"] {
		s.printerChaos, _ = strconv.ParseBool(e)
	}
	if s.seed == 0 {
		s.seed = uint64(time.Now().UnixNano())
	}
	if s.kills < 0 {
		s.kills = max(4, s.sales/60)
	}
	if s.natsRestarts < 0 {
		s.natsRestarts = max(1, s.sales/300)
	}
	if s.outages < 0 {
		s.outages = max(1, s.sales/250)
	}
	return s
}

func envName(flagName string) string {
	return strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(flagName))
}

func TestSoak(t *testing.T) {
	sz := sizeFromFlags()
	if sz.sales < 1 || sz.pos < 1 {
		t.Fatalf("need at least one sale and one POS, got %d and %d", sz.sales, sz.pos)
	}
	t.Logf("soak: %d sales over %d POS, %d kills, %d NATS restarts, %d API outages, seed %d (rerun with -soak.seed %d)",
		sz.sales, sz.pos, sz.kills, sz.natsRestarts, sz.outages, sz.seed, sz.seed)
	w := newWorld(t, sz)
	res, ch := w.runSales()
	salesDone := time.Since(w.began)
	if err := w.settle(res); err != nil {
		t.Errorf("the run did not settle within 3 minutes (%v): the audit below says what is missing", err)
	}
	health := waitHealthy(t.Context(), w.agent.current().http)
	sctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	stopErr := w.agent.stop(sctx)
	cancel()

	// The verdict, from the events stream and the simulator.
	actx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	stored, state, err := readStream(actx, w.js, evtSt)
	cancel()
	if err != nil {
		t.Fatalf("reading the events stream: %v", err)
	}
	replays, bad, followErrs := w.hub.snapshot()
	var sent []*salePlan
	notSent := map[string]int{}
	for _, r := range res {
		if r.NotSent {
			notSent[r.Plan.POS.ID]++
		} else {
			sent = append(sent, r.Plan)
		}
	}
	a := runAudit(sent, res, stored, replays, w.sim.Orders(), staticQR)
	if err := a.countToken(token, w.dirs["logs"], w.dirs["printers"], w.dirs["state"], w.dirs["nats"]); err != nil {
		t.Fatal(err)
	}
	if err := a.scanLogs(w.dirs["logs"]); err != nil {
		t.Fatal(err)
	}
	runs, kills, crashes := w.agent.stats()
	rep := &report{size: sz, audit: a, results: res, chaos: ch, runs: runs, kills: kills, natsRestarts: w.nats.Restarts(),
		pub: w.pub, simRequests: len(w.sim.Requests()), stream: state, salesDone: salesDone, total: time.Since(w.began),
		health: health, stopErr: stopErr, followErrs: followErrs, printers: w.printers}
	table := rep.markdown()
	t.Logf("soak result (seed %d):\n%s", sz.seed, table)
	if sz.report != "" {
		if err := os.WriteFile(sz.report, []byte(table), 0o644); err != nil {
			t.Errorf("writing the report: %v", err)
		}
	}

	for _, f := range a.failures() {
		t.Error(f)
	}
	for p, n := range notSent {
		t.Errorf("the register of %s stopped after two sales in a row got no outcome in %s; %d sales not sent", p, 5*time.Minute, n)
	}
	for _, c := range crashes {
		t.Errorf("agent crash: %s", c)
	}
	for _, e := range ch.errs {
		t.Errorf("chaos: %s", e)
	}
	for _, b := range bad {
		t.Errorf("unparseable event: %s", b)
	}
	if stopErr != nil {
		t.Errorf("graceful stop (SIGTERM): %v", stopErr)
	}
	if health != http.StatusOK {
		t.Errorf("/healthz after settling answered %d, want 200", health)
	}
	if pc := rep.printerFindings(); pc != "" {
		t.Error(pc)
	}
	logNotes(t, res)
	if t.Failed() && sz.keep == "" {
		t.Logf("to reproduce with the agent logs kept: -soak.seed %d -soak.keep DIR -v", sz.seed)
	}
}

// logNotes shows what the registers noticed along the way (at most 50
// sales' worth).
func logNotes(t *testing.T, res []*saleResult) {
	noted := 0
	for _, r := range res {
		if r.GaveUp != "" || len(r.Notes) > 0 {
			if noted++; noted <= 50 {
				t.Logf("register %s (%s): gave up %q; notes %q", r.Plan.ID, r.Plan.Action, r.GaveUp, r.Notes)
			}
		}
	}
	if noted > 50 {
		t.Logf("... and %d more sales with register notes", noted-50)
	}
}
