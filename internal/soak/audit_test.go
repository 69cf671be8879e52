//go:build soak

package soak

import (
	"bytes"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/makiuchi-d/gozxing"
	gzqr "github.com/makiuchi-d/gozxing/qrcode"
	"github.com/skip2/go-qrcode"

	"github.com/posagent/posagent/internal/command"
	"github.com/posagent/posagent/internal/emvco"
	"github.com/posagent/posagent/internal/events"
	"github.com/posagent/posagent/internal/qrorder"
	"github.com/posagent/posagent/internal/qrorder/qrordertest"
)

// audit is the verdict on a run, from the events stream and the
// simulator's orders (the truth), with the registers' view as context.
type audit struct {
	Sales        int
	Orders       int // simulator orders whose external_reference is one of the sales
	OneOrder     int // sales with exactly one order
	StrayOrders  []string
	NoOrder      []string
	MultiOrder   []string
	OpenOrders   []string
	DupMsgIDs    []string
	MultiFinal   []string
	MultiCreated []string
	Lost         []string
	Wrong        []string
	Outcomes     map[string]int // processed, canceled, expired, orphan_canceled
	FailedEvents int            // failed api_unavailable (expected under outages)
	// Cancels answered invalid_state after their sale was canceled (see
	// checkRejected): resent ones, and first ones redelivered.
	ResendRejects, RedeliveryRejects int
	QRChecked                        int
	QRVerified                       int
	Replays                          int
	StoredEvents                     int
	PrinterEvents                    map[string]int
	TokenHits                        map[string]int // file -> occurrences of the access token
	FilesSearched                    int
	BytesSearched                    int64
	LogAlarms                        []string // race reports, panics and fatal errors in the agent's logs
}

func (a *audit) wrong(sale, format string, args ...any) {
	a.Wrong = append(a.Wrong, sale+": "+fmt.Sprintf(format, args...))
}

func (a *audit) failures() []string {
	var out []string
	add := func(name string, list []string) {
		if len(list) > 0 {
			out = append(out, fmt.Sprintf("%s (%d): %s", name, len(list), strings.Join(firstN(list, 20), "; ")))
		}
	}
	if a.Orders != a.Sales {
		out = append(out, fmt.Sprintf("orders at the simulator %d != sales %d", a.Orders, a.Sales))
	}
	if a.QRVerified != a.QRChecked {
		out = append(out, fmt.Sprintf("QR payloads verified %d of %d", a.QRVerified, a.QRChecked))
	}
	add("sales without an order", a.NoOrder)
	add("sales with several orders", a.MultiOrder)
	add("orders for no sale", a.StrayOrders)
	add("orders left open", a.OpenOrders)
	add("stored events sharing a Nats-Msg-Id", a.DupMsgIDs)
	add("sales with several stored final events", a.MultiFinal)
	add("sales with several stored created events", a.MultiCreated)
	add("lost sales (no stored final event)", a.Lost)
	add("wrong events", a.Wrong)
	add("race reports, panics or fatal errors in the agent's logs", a.LogAlarms)
	for f, n := range a.TokenHits {
		out = append(out, fmt.Sprintf("the access token appears %d times in %s", n, f))
	}
	return out
}

func firstN(s []string, n int) []string {
	if len(s) > n {
		return append(slices.Clone(s[:n]), fmt.Sprintf("... and %d more", len(s)-n))
	}
	return s
}

// runAudit checks every sale against the stored events and the orders.
func runAudit(plans []*salePlan, results []*saleResult, stored []received, replays []received, orders []qrordertest.Order, staticQR string) *audit {
	a := &audit{Sales: len(plans), Outcomes: map[string]int{}, PrinterEvents: map[string]int{}, StoredEvents: len(stored)}
	cmds := map[uint64]sentCmd{}
	for _, r := range results {
		for _, c := range r.Cmds {
			cmds[c.Seq] = c
		}
	}
	var rejected []received
	bySale := map[string][]received{}
	msgIDs := map[string]int{}
	known := map[string]*salePlan{}
	for _, p := range plans {
		known[p.ID] = p
	}
	for _, r := range stored {
		msgIDs[r.MsgID]++
		if r.Kind == events.Printer {
			a.PrinterEvents[r.POS+" "+r.Event.Status]++
			continue
		}
		switch r.Event.Status {
		case events.Rejected:
			rejected = append(rejected, r)
		case events.Failed:
			if r.Event.Error == nil || r.Event.Error.Code != command.CodeAPIUnavailable {
				a.wrong(r.Event.SaleID, "failed event other than api_unavailable: %s", r.Raw)
			}
			a.FailedEvents++
		case events.Refunded:
			a.wrong(r.Event.SaleID, "refund nobody asked for: %s", r.Raw)
		}
		if known[r.Event.SaleID] == nil {
			a.wrong(r.Event.SaleID, "event about an unknown sale: %s", r.Raw)
			continue
		}
		bySale[r.Event.SaleID] = append(bySale[r.Event.SaleID], r)
	}
	for id, n := range msgIDs {
		if n > 1 {
			a.DupMsgIDs = append(a.DupMsgIDs, fmt.Sprintf("%s x%d", id, n))
		}
	}
	byRef := map[string][]qrordertest.Order{}
	refs := map[string]bool{}
	for _, p := range plans {
		refs[p.Ref()] = true
	}
	for _, o := range orders {
		if !refs[o.ExternalReference] {
			a.StrayOrders = append(a.StrayOrders, o.ID+" ref "+o.ExternalReference)
			continue
		}
		a.Orders++
		byRef[o.ExternalReference] = append(byRef[o.ExternalReference], o)
		if o.Status == "created" {
			a.OpenOrders = append(a.OpenOrders, o.ID+" ref "+o.ExternalReference)
		}
	}
	for _, p := range plans {
		a.checkSale(p, bySale[p.ID], byRef[p.Ref()], staticQR)
	}
	for _, r := range rejected {
		a.checkRejected(r, cmds[commandSeq(r.MsgID)], bySale[r.Event.SaleID])
	}
	a.checkReplays(stored, replays)
	sort.Strings(a.Wrong)
	return a
}

func (a *audit) checkSale(p *salePlan, evs []received, orders []qrordertest.Order, staticQR string) {
	switch len(orders) {
	case 0:
		a.NoOrder = append(a.NoOrder, p.ID)
	case 1:
		a.OneOrder++
	default:
		var ids []string
		for _, o := range orders {
			ids = append(ids, o.ID+"("+o.Status+")")
		}
		a.MultiOrder = append(a.MultiOrder, p.ID+": "+strings.Join(ids, ","))
	}
	var created, finals []received
	for _, r := range evs {
		switch {
		case r.Event.Status == events.Created:
			created = append(created, r)
		case isFinal(r.Event.Status):
			finals = append(finals, r)
		}
	}
	if len(created) > 1 {
		a.MultiCreated = append(a.MultiCreated, p.ID)
	}
	switch len(finals) {
	case 0:
		a.Lost = append(a.Lost, fmt.Sprintf("%s (%s; stored: %s)", p.ID, p.Action, kinds(evs)))
		return
	case 1:
	default:
		a.MultiFinal = append(a.MultiFinal, fmt.Sprintf("%s (%s)", p.ID, kinds(evs)))
	}
	final := finals[0].Event
	outcome := final.Status
	orphan := final.Status == events.Canceled && final.StatusDetail == "orphan_canceled"
	if orphan {
		outcome = "orphan_canceled"
	}
	a.Outcomes[outcome]++
	if len(created) == 0 && !orphan {
		a.wrong(p.ID, "final %s without a created event", final.Status)
	}
	if len(created) > 0 && orphan {
		a.wrong(p.ID, "orphan_canceled after a created event: the register was shown a QR")
	}
	if len(created) > 0 && created[0].Seq > finals[0].Seq {
		a.wrong(p.ID, "created stored after the final event")
	}
	want := map[action]string{actPay: events.Processed, actCancel: events.Canceled, actExpire: events.Expired}[p.Action]
	if final.Status != want && !orphan {
		a.wrong(p.ID, "sale meant to end %s ended %s: %s", want, final.Status, finals[0].Raw)
	}
	if len(orders) == 0 {
		return
	}
	o := orders[0]
	if key := qrorder.SaleKey(p.POS.ID, p.ID, qrorder.OpCreate); o.IdempotencyKey != key || o.POS != p.POS.ID || o.Mode != p.POS.Mode {
		a.wrong(p.ID, "order %s made with key %s for POS %s mode %s; want key %s (docs/protocol.md), POS %s, mode %s",
			o.ID, o.IdempotencyKey, o.POS, o.Mode, key, p.POS.ID, p.POS.Mode)
	}
	if final.OrderID != o.ID {
		a.wrong(p.ID, "final event names order %q, the API has %s", final.OrderID, o.ID)
	}
	if final.Status != o.Status {
		a.wrong(p.ID, "final event says %s, the order at the API is %s", final.Status, o.Status)
	}
	if o.TotalAmount != p.Total || final.TotalAmount != "" && final.TotalAmount != p.Total {
		a.wrong(p.ID, "amount sent %s, order %s, event %s", p.Amount, o.TotalAmount, final.TotalAmount)
	}
	for _, c := range created {
		a.checkCreated(p, c, o, staticQR)
	}
}

func (a *audit) checkCreated(p *salePlan, c received, o qrordertest.Order, staticQR string) {
	e := c.Event
	if e.OrderID != o.ID || e.TotalAmount != p.Total || e.Mode != p.POS.Mode {
		a.wrong(p.ID, "created event %s vs order %s %s %s", c.Raw, o.ID, o.TotalAmount, o.Mode)
	}
	want := o.QRData
	if p.POS.Mode == "static" {
		want = staticQR
	}
	a.QRChecked++
	switch {
	case e.QRData != want:
		a.wrong(p.ID, "created qr_data %q, want %q", e.QRData, want)
	case emvco.Check(e.QRData) != nil:
		a.wrong(p.ID, "created qr_data fails the EMVCo check: %v", emvco.Check(e.QRData))
	default:
		got, err := qrRoundTrip(e.QRData)
		if err != nil || got != e.QRData {
			a.wrong(p.ID, "qr_data did not survive QR encoding and decoding: %q, %v", got, err)
			return
		}
		a.QRVerified++
	}
}

// checkRejected accepts only the rejection a register meets here without
// anything being wrong: its cancel answered invalid_state with sale_status
// canceled, after the sale's canceled event was stored. That happens to a
// cancel resent after it failed (api_unavailable) while its call had in
// fact gone through, and to a cancel redelivered after a kill -9 that came
// between its API call and its ack (the restarted agent's poller reports
// the order canceled first). Both are counted in the report.
func (a *audit) checkRejected(r received, cmd sentCmd, evs []received) {
	final := ""
	for _, e := range evs {
		if isFinal(e.Event.Status) && e.Seq < r.Seq {
			final = e.Event.Status
		}
	}
	e := r.Event
	if cmd.Verb == "cancel" && e.Error != nil && e.Error.Code == command.CodeInvalidState &&
		final == events.Canceled && e.SaleStatus == final {
		if cmd.N > 1 {
			a.ResendRejects++
		} else {
			a.RedeliveryRejects++
		}
		return
	}
	a.wrong(e.SaleID, "rejected event stored (answering %s #%d): %s", cmd.Verb, cmd.N, r.Raw)
}

// commandSeq is the command's stream sequence in a rejected or failed
// event's Nats-Msg-Id (<store>.<pos>.cmd.<seq>.<status>).
func commandSeq(msgID string) uint64 {
	_, rest, ok := strings.Cut(msgID, ".cmd.")
	if !ok {
		return 0
	}
	num, _, _ := strings.Cut(rest, ".")
	n, _ := strconv.ParseUint(num, 10, 64)
	return n
}

// checkReplays holds every live replay to its stored original: same
// Nats-Msg-Id, same at, same status, and the original not a replay.
func (a *audit) checkReplays(stored, replays []received) {
	orig := map[string]received{}
	for _, r := range stored {
		orig[r.MsgID] = r
	}
	for _, r := range replays {
		a.Replays++
		o, ok := orig[r.MsgID]
		switch {
		case !ok:
			a.wrong(r.Event.SaleID, "replay with Nats-Msg-Id %q not in the stream: %s", r.MsgID, r.Raw)
		case o.Event.At != r.Event.At || o.Event.Status != r.Event.Status || o.Event.Replay:
			a.wrong(r.Event.SaleID, "replay %s differs from the stored original %s", r.Raw, o.Raw)
		}
	}
}

func kinds(evs []received) string {
	var s []string
	for _, r := range evs {
		k := r.Event.Status
		if r.Event.Error != nil {
			k += "/" + r.Event.Error.Code
		} else if r.Event.StatusDetail != "" && r.Event.StatusDetail != r.Event.Status {
			k += "/" + r.Event.StatusDetail
		}
		s = append(s, fmt.Sprintf("#%d %s", r.Seq, k))
	}
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// qrRoundTrip draws payload as a QR code in a PNG, as a display would, and
// reads it back with an independent decoder. Whole pixels per module and
// the pure-barcode hint make gozxing reliable (at 320 px, scaled modules
// fail about 1% of payloads in the decoder, not in the data); a second
// module size is tried before a payload is called unreadable.
func qrRoundTrip(payload string) (string, error) {
	var err error
	for _, module := range []int{8, 10} {
		var got string
		if got, err = qrDecodePNG(payload, module); err == nil {
			return got, nil
		}
	}
	return "", err
}

func qrDecodePNG(payload string, module int) (string, error) {
	pngBytes, err := qrcode.Encode(payload, qrcode.Medium, -module)
	if err != nil {
		return "", err
	}
	img, err := png.Decode(bytes.NewReader(pngBytes))
	if err != nil {
		return "", err
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		return "", err
	}
	hints := map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_TRY_HARDER: true, gozxing.DecodeHintType_PURE_BARCODE: true}
	res, err := gzqr.NewQRCodeReader().Decode(bmp, hints)
	if err != nil {
		return "", err
	}
	return res.GetText(), nil
}

// countToken counts the access token in every file under the dirs.
func (a *audit) countToken(token string, dirs ...string) error {
	a.TokenHits = map[string]int{}
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || d.Type()&os.ModeType != 0 {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			a.FilesSearched++
			a.BytesSearched += int64(len(b))
			if n := bytes.Count(b, []byte(token)); n > 0 {
				a.TokenHits[path] = n
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// scanLogs looks for what must never be in the agent's logs: a race
// detector report (with -soak.race), a panic, a Go fatal error.
func (a *audit) scanLogs(dir string) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		return err
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, "WARNING: DATA RACE") || strings.HasPrefix(line, "panic: ") || strings.HasPrefix(line, "fatal error: ") {
				a.LogAlarms = append(a.LogAlarms, fmt.Sprintf("%s:%d: %s", filepath.Base(f), i+1, line))
			}
		}
	}
	return nil
}
