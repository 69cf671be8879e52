//go:build soak

package soak

import (
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// report turns a run into the table issue #7 asks for, plus the chaos that
// was survived and what the registers went through.
type report struct {
	size         size
	audit        *audit
	results      []*saleResult
	chaos        *chaos
	runs, kills  int
	natsRestarts int
	pub          *publisher
	simRequests  int
	stream       jetstream.StreamState
	salesDone    time.Duration
	total        time.Duration
	health       int
	stopErr      error
	followErrs   int
	printers     map[string]*ptyPrinter
}

func (r *report) markdown() string {
	a := r.audit
	var b strings.Builder
	row := func(what, got, want string) { fmt.Fprintf(&b, "| %s | %s | %s |\n", what, got, want) }
	n := func(v int) string { return fmt.Sprint(v) }
	race := ""
	if r.size.race {
		race = ", agent built with -race"
	}
	fmt.Fprintf(&b, "Soak run: %d sales over %d POS, seed %d, %s/%s, %d CPUs%s; wall time %s (sales %s, settling and audit %s).\n\n",
		r.size.sales, r.size.pos, r.size.seed, runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), race,
		r.total.Round(time.Second), r.salesDone.Round(time.Second), (r.total - r.salesDone).Round(time.Second))
	b.WriteString("| check | result | required |\n| --- | --- | --- |\n")
	row("sales sent", n(a.Sales), "")
	row("orders created at the simulator for those sales", n(a.Orders), "= sales ("+n(a.Sales)+")")
	row("sales with exactly one order (by external_reference)", n(a.OneOrder), "all")
	row("duplicates: sales with more than one order", n(len(a.MultiOrder)), "0")
	row("duplicates: stored events sharing a Nats-Msg-Id", n(len(a.DupMsgIDs)), "0")
	row("duplicates: sales with more than one stored final event", n(len(a.MultiFinal)), "0")
	row("duplicates: sales with more than one stored created event", n(len(a.MultiCreated)), "0")
	row("lost: sales without a stored final event", n(len(a.Lost)), "0")
	row("wrong events (status, order, amount, QR vs the simulator; rejections; replays)", n(len(a.Wrong)), "0")
	row("orders for no sale / left open at the end", n(len(a.StrayOrders))+" / "+n(len(a.OpenOrders)), "0 / 0")
	row("final events stored: processed / canceled / expired / orphan_canceled",
		fmt.Sprintf("%d / %d / %d / %d", a.Outcomes["processed"], a.Outcomes["canceled"], a.Outcomes["expired"], a.Outcomes["orphan_canceled"]),
		"one per sale")
	row("QR payloads verified by decoding (PNG -> gozxing) and against the order", fmt.Sprintf("%d / %d", a.QRVerified, a.QRChecked), "all")
	row("access token occurrences in all logs and printer output",
		fmt.Sprintf("%d (%d files, %d KiB)", sumValues(a.TokenHits), a.FilesSearched, a.BytesSearched/1024), "0")
	row("race reports / panics / fatal errors in the agent's logs", n(len(a.LogAlarms)), "0")
	_, _, crashes := r.agentStats()
	row("agent crashes (exits nobody caused)", n(crashes), "0")
	stop := "exit 0"
	if r.stopErr != nil {
		stop = r.stopErr.Error()
	}
	row("graceful stop on SIGTERM at the end", stop, "exit 0")
	row("/healthz after settling", n(r.health), "200")

	b.WriteString("\nChaos survived:\n\n| chaos | count |\n| --- | --- |\n")
	fmt.Fprintf(&b, "| agent processes started | %d |\n", r.runs)
	counts := r.chaosCounts()
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		fmt.Fprintf(&b, "| %s | %d |\n", k, counts[k])
	}
	for _, id := range slices.Sorted(maps.Keys(r.printers)) {
		by, q, st, un, _ := r.printers[id].stats()
		fmt.Fprintf(&b, "| pty printer %s: stalls / unplugs / bytes received / status requests answered | %d / %d / %d / %d |\n", id, st, un, by, q)
	}

	var failedResends, silentResends, dupSends, cancelSends, gaveUp int
	var lat []time.Duration
	for _, s := range r.results {
		failedResends += s.FailedResends
		silentResends += s.SilentResends
		dupSends += s.DupSends
		cancelSends += s.CancelSends
		if s.GaveUp != "" {
			gaveUp++
		}
		if s.Created != nil {
			lat = append(lat, s.CreatedAfter)
		}
	}
	slices.Sort(lat)
	b.WriteString("\nWhat the registers and the stream saw:\n\n| measure | value |\n| --- | --- |\n")
	fmt.Fprintf(&b, "| failed (api_unavailable) events stored | %d |\n", a.FailedEvents)
	fmt.Fprintf(&b, "| sales resent after failed/api_unavailable | %d |\n", failedResends)
	fmt.Fprintf(&b, "| sales resent after %s without an event | %d |\n", "45s", silentResends)
	fmt.Fprintf(&b, "| cancel commands sent (resends after failed included) | %d |\n", cancelSends)
	fmt.Fprintf(&b, "| cancels answered rejected/invalid_state (sale_status canceled) after the canceled event: resent after failed / first one, redelivered after a kill | %d / %d |\n", a.ResendRejects, a.RedeliveryRejects)
	fmt.Fprintf(&b, "| sales sent again on purpose after their QR showed (must replay, never re-create) | %d |\n", dupSends)
	fmt.Fprintf(&b, "| live replays checked against the stored original (same Nats-Msg-Id, at, status) | %d |\n", a.Replays)
	fmt.Fprintf(&b, "| command publishes retried (NATS away) / PubAcks deduplicated by Nats-Msg-Id | %d / %d |\n", r.pub.retries.Load(), r.pub.dupAcks.Load())
	fmt.Fprintf(&b, "| sales the register gave up on (5 min) | %d |\n", gaveUp)
	fmt.Fprintf(&b, "| events stored (POS_EVT messages, first..last seq) | %d (%d..%d) |\n", r.stream.Msgs, r.stream.FirstSeq, r.stream.LastSeq)
	fmt.Fprintf(&b, "| printer events stored | %s |\n", printerEvents(a.PrinterEvents))
	fmt.Fprintf(&b, "| Orders API requests served by the simulator | %d |\n", r.simRequests)
	fmt.Fprintf(&b, "| event-stream follower restarts (register side) | %d |\n", r.followErrs)
	if len(lat) > 0 {
		fmt.Fprintf(&b, "| sale sent -> created seen, p50 / p90 / p99 / max (chaos included) | %s / %s / %s / %s |\n",
			pct(lat, 50), pct(lat, 90), pct(lat, 99), lat[len(lat)-1].Round(time.Millisecond))
	}
	return b.String()
}

func (r *report) agentStats() (runs, kills, crashes int) {
	runs, kills, c := r.chaos.agent.stats()
	return runs, kills, len(c)
}

func (r *report) chaosCounts() map[string]int {
	r.chaos.mu.Lock()
	defer r.chaos.mu.Unlock()
	return maps.Clone(r.chaos.counts)
}

// printerFindings says what went wrong with the pty printers, if anything:
// each must have received receipts despite its troubles, and the test must
// have been able to plug it back in.
func (r *report) printerFindings() string {
	var out []string
	for id, p := range r.printers {
		by, _, _, _, errs := p.stats()
		if by == 0 {
			out = append(out, id+": nothing was ever printed")
		}
		if len(errs) > 0 {
			out = append(out, id+": re-plugging failed: "+strings.Join(errs, "; "))
		}
	}
	slices.Sort(out)
	return strings.Join(out, "\n")
}

func pct(sorted []time.Duration, p int) string {
	i := (len(sorted) - 1) * p / 100
	return sorted[i].Round(time.Millisecond).String()
}

func sumValues(m map[string]int) int {
	s := 0
	for _, v := range m {
		s += v
	}
	return s
}

func printerEvents(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	var s []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		s = append(s, fmt.Sprintf("%s: %d", k, m[k]))
	}
	return strings.Join(s, ", ")
}
