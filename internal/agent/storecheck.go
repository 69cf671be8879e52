package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/posagent/posagent/internal/events"
	"github.com/posagent/posagent/internal/intake"
	"github.com/posagent/posagent/internal/salestore"
	"github.com/posagent/posagent/internal/session"
	"github.com/posagent/posagent/internal/subject"
)

// The start-up check of the state directory (docs/durability.md): what a
// damaged disk did to the streams and the sale store, what the agent did
// about it, and what it can no longer account for. A report file stays in
// state_dir, and /healthz says so, until someone deletes it.

// storeReportFile is the report's name under state_dir.
const storeReportFile = "store-damage.json"

// storeReport is what the check found, kept across restarts until
// acknowledged (the file is deleted).
type storeReport struct {
	Checks []storeFinding `json:"checks"`
}

// storeFinding is one start's findings.
type storeFinding struct {
	At string `json:"at"`
	// LostMessages: sequences nats-server found damaged and dropped, by
	// stream. Lost commands were acknowledged to a register and will never
	// be handled; lost events are gone from the stream.
	LostMessages map[string][]uint64 `json:"lost_messages,omitempty"`
	LostBytes    map[string]uint64   `json:"lost_bytes,omitempty"`
	// SaleStoreUnwritable: why the sale store refused a write; it was
	// then moved aside and made again from what could be read.
	SaleStoreUnwritable string `json:"sale_store_unwritable,omitempty"`
	SalvagedRecords     int    `json:"salvaged_records,omitempty"`
	UnreadableRecords   int    `json:"unreadable_records,omitempty"`
	// RebuiltSales: "POS/sale_id" whose record was missing and was rebuilt
	// from their events: resent, they are answered from the events, but
	// their original content (items, description) is not known any more.
	RebuiltSales []string `json:"rebuilt_sales,omitempty"`
	// MovedAside: damaged files moved under state_dir/damaged.
	MovedAside []string `json:"moved_aside,omitempty"`
	Notes      []string `json:"notes,omitempty"`
}

func (f *storeFinding) empty() bool {
	return len(f.LostMessages) == 0 && f.SaleStoreUnwritable == "" && len(f.RebuiltSales) == 0 && len(f.MovedAside) == 0
}

// checkStore runs the start-up check before any POS starts. It returns
// the sale store to use (a new one when the old could not be written).
// Only the steps that must succeed for the agent to sell return errors.
func (a *Agent) checkStore(ctx context.Context, js jetstream.JetStream, streams intake.Streams, store *salestore.Store, posIDs []string) (*salestore.Store, error) {
	f := &storeFinding{At: time.Now().UTC().Format(time.RFC3339)}
	a.moveBrokenConsumers(ctx, js, streams, posIDs, f)
	err := readableStore(ctx, store)
	if err == nil {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err = store.Probe(pctx)
		cancel()
	}
	if err != nil {
		if store, err = a.remakeStore(ctx, js, store, err, f); err != nil {
			return nil, err
		}
	}
	a.lostMessages(ctx, js, []string{"KV_" + store.Bucket(), streams.Commands, streams.Events}, f)
	if store, err = a.rebuildFromEvents(ctx, js, streams, store, posIDs, f); err != nil {
		return nil, err
	}
	a.registerStoreHealth()
	if f.empty() {
		return store, nil
	}
	path := filepath.Join(a.cfg.StateDir, storeReportFile)
	if err := appendStoreReport(path, f); err != nil {
		f.Notes = append(f.Notes, "could not write "+path+": "+err.Error())
	}
	a.log.Error("state directory damaged: the agent recovered what it could and keeps selling; see the report and docs/durability.md, delete the report to acknowledge",
		"report", path, "lost_messages", f.LostMessages, "sale_store_unwritable", f.SaleStoreUnwritable,
		"salvaged_records", f.SalvagedRecords, "unreadable_records", f.UnreadableRecords,
		"rebuilt_sales", f.RebuiltSales, "moved_aside", f.MovedAside, "notes", f.Notes)
	return store, nil
}

// readableStore checks, before anything is written to the sale store,
// that it can be written to safely (salestore.Check): nats-server can spin
// forever on a write over a record its index counts but cannot find,
// taking the agent's connection with it. A check that cannot finish
// (the stream does not answer) leaves the decision to the probe.
func readableStore(ctx context.Context, store *salestore.Store) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	err := store.Check(ctx)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// remakeStore moves an unwritable sale store aside: it reads what it can,
// keeps a copy of the files (embedded server), deletes the bucket, makes
// a new one and writes the salvaged records into it.
func (a *Agent) remakeStore(ctx context.Context, js jetstream.JetStream, store *salestore.Store, probeErr error, f *storeFinding) (*salestore.Store, error) {
	f.SaleStoreUnwritable = probeErr.Error()
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	recs, unread, err := store.Dump(dctx)
	cancel()
	if err != nil {
		f.Notes = append(f.Notes, "salvage: "+err.Error())
	}
	f.SalvagedRecords, f.UnreadableRecords = len(recs), unread
	if dir := a.streamDir("KV_" + store.Bucket()); dir != "" {
		if to, err := a.copyAside(dir); err == nil {
			f.MovedAside = append(f.MovedAside, to)
		} else {
			f.Notes = append(f.Notes, "copy aside: "+err.Error())
		}
	}
	if err := salestore.Drop(ctx, js, store.Bucket()); err != nil {
		return nil, err
	}
	fresh, err := salestore.Open(ctx, js, a.storeOptions())
	if err != nil {
		return nil, err
	}
	for k, v := range recs {
		if err := fresh.PutRaw(ctx, k, v); err != nil {
			return nil, err
		}
	}
	return fresh, nil
}

// moveBrokenConsumers moves aside the files of a POS consumer that the
// embedded server could not load (a damaged state file): left in place,
// creating the consumer fails at every start. The new consumer gets every
// command still in the work queue; handling them again is idempotent.
func (a *Agent) moveBrokenConsumers(ctx context.Context, js jetstream.JetStream, streams intake.Streams, posIDs []string, f *storeFinding) {
	cmdDir := a.streamDir(streams.Commands)
	if cmdDir == "" {
		return
	}
	for _, pos := range posIDs {
		name := subject.Consumer(a.cfg.StoreID, pos)
		dir := filepath.Join(cmdDir, "obs", name)
		if _, err := os.Stat(dir); err != nil {
			continue
		}
		if _, err := js.Consumer(ctx, streams.Commands, name); !errors.Is(err, jetstream.ErrConsumerNotFound) {
			continue
		}
		to, err := a.moveAside(dir)
		if err != nil {
			f.Notes = append(f.Notes, "consumer "+name+" could not be loaded and its files could not be moved: "+err.Error())
			continue
		}
		f.MovedAside = append(f.MovedAside, to)
	}
}

// lostMessages collects what nats-server reports as lost in each stream.
func (a *Agent) lostMessages(ctx context.Context, js jetstream.JetStream, names []string, f *storeFinding) {
	for _, name := range names {
		s, err := js.Stream(ctx, name)
		if err != nil {
			f.Notes = append(f.Notes, "stream "+name+": "+err.Error())
			continue
		}
		info, err := s.Info(ctx)
		if err != nil || info.State.Lost == nil || len(info.State.Lost.Msgs) == 0 {
			continue
		}
		if f.LostMessages == nil {
			f.LostMessages, f.LostBytes = map[string][]uint64{}, map[string]uint64{}
		}
		f.LostMessages[name] = info.State.Lost.Msgs
		f.LostBytes[name] = info.State.Lost.Bytes
	}
}

// recordOpTimeout bounds one read or write of the sale records during the
// check: nats-server does not answer a write it failed to store (a damaged
// block under the key's old revision), and one such write must not use up
// the time of the whole check.
const recordOpTimeout = 5 * time.Second

// rebuildFromEvents gives every sale of the retention window that has
// events but no record (lost with a damaged store) a record rebuilt from
// its events, so that resending it can never make a second order. When
// the store cannot write some record, it is remade (as when the probe
// fails) and checked again. It returns the store to use.
func (a *Agent) rebuildFromEvents(ctx context.Context, js jetstream.JetStream, streams intake.Streams, store *salestore.Store, posIDs []string, f *storeFinding) (*salestore.Store, error) {
	rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	since := time.Now().Add(-a.cfg.SaleRetention * 9 / 10) // clear of records about to expire
	bySale, err := readSaleEvents(rctx, js, streams.Events, a.cfg.StoreID, since)
	if err != nil {
		f.Notes = append(f.Notes, "reading the events stream to check the sale records: "+err.Error())
		return store, nil
	}
	failed := a.rebuildRecords(ctx, store, posIDs, bySale, f)
	if len(failed) > 0 && f.SaleStoreUnwritable == "" {
		a.log.Warn("the sale records could not all be written; remaking the sale store", "errors", failed)
		if store, err = a.remakeStore(ctx, js, store, errors.New(strings.Join(failed, "; ")), f); err != nil {
			return nil, err
		}
		failed = a.rebuildRecords(ctx, store, posIDs, bySale, f)
	}
	f.Notes = append(f.Notes, failed...)
	f.RebuiltSales = slices.Compact(slices.Sorted(slices.Values(f.RebuiltSales)))
	return store, nil
}

// rebuildRecords runs session.RebuildRecords for each POS and returns
// what failed, one line per POS.
func (a *Agent) rebuildRecords(ctx context.Context, store *salestore.Store, posIDs []string, bySale map[string]map[string][]events.Event, f *storeFinding) []string {
	var failed []string
	for _, pos := range posIDs {
		rebuilt, updated, err := session.RebuildRecords(ctx, opTimeoutStore{store, recordOpTimeout}, pos, bySale[pos], time.Now())
		for _, id := range rebuilt {
			f.RebuiltSales = append(f.RebuiltSales, pos+"/"+id)
		}
		if len(updated) > 0 {
			// Normal after a crash between publishing an event and
			// recording it; also what a damaged store giving back older
			// records looks like.
			a.log.Warn("sale records behind their events brought up to date", "pos", pos, "sales", updated)
		}
		if err != nil {
			failed = append(failed, "rebuilding records of "+pos+": "+err.Error())
		}
	}
	return failed
}

// opTimeoutStore gives every operation on the records its own deadline.
type opTimeoutStore struct {
	s session.Store
	d time.Duration
}

func (o opTimeoutStore) Get(ctx context.Context, key string, v any) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, o.d)
	defer cancel()
	return o.s.Get(ctx, key, v)
}

func (o opTimeoutStore) Put(ctx context.Context, key string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, o.d)
	defer cancel()
	return o.s.Put(ctx, key, v)
}

func (o opTimeoutStore) Delete(ctx context.Context, key string) error {
	ctx, cancel := context.WithTimeout(ctx, o.d)
	defer cancel()
	return o.s.Delete(ctx, key)
}

// readSaleEvents reads the events stream from since: pos -> sale -> its
// events in stream order.
func readSaleEvents(ctx context.Context, js jetstream.JetStream, stream, storeID string, since time.Time) (map[string]map[string][]events.Event, error) {
	out := map[string]map[string][]events.Event{}
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, err
	}
	info, err := s.Info(ctx)
	if err != nil || info.State.Msgs == 0 {
		return out, err
	}
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &since})
	if err != nil {
		return nil, err
	}
	last := info.State.LastSeq
	for {
		batch, err := c.Fetch(500, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return nil, err
		}
		n := 0
		for m := range batch.Messages() {
			n++
			md, err := m.Metadata()
			if err != nil {
				continue
			}
			addSaleEvent(out, storeID, m.Subject(), m.Headers().Get(jetstream.MsgIDHeader), m.Data())
			if md.Sequence.Stream >= last {
				return out, nil
			}
		}
		if n == 0 {
			return out, batch.Error() // nothing newer than since
		}
	}
}

func addSaleEvent(out map[string]map[string][]events.Event, storeID, subject, msgID string, data []byte) {
	tok := strings.Split(subject, ".")
	if len(tok) < 4 || tok[len(tok)-4] != storeID || tok[len(tok)-1] == events.Printer {
		return
	}
	var ev events.Event
	if json.Unmarshal(data, &ev) != nil || ev.SaleID == "" || msgID == "" {
		return
	}
	ev.MsgID = msgID
	pos := tok[len(tok)-3]
	if out[pos] == nil {
		out[pos] = map[string][]events.Event{}
	}
	out[pos][ev.SaleID] = append(out[pos][ev.SaleID], ev)
}

// streamDir is a stream's directory in the embedded server's store, or ""
// when the server is not embedded (its files are not this agent's).
func (a *Agent) streamDir(stream string) string {
	if a.cfg.NATS.URL != "" || a.cfg.NATS.Embedded.StoreDir == "" {
		return ""
	}
	return filepath.Join(a.cfg.NATS.Embedded.StoreDir, "jetstream", "$G", "streams", stream)
}

// asideDir is where damaged files go: state_dir/damaged/<time>.
func (a *Agent) asideDir() string {
	return filepath.Join(a.cfg.StateDir, "damaged", time.Now().UTC().Format("20060102T150405Z"))
}

func (a *Agent) moveAside(dir string) (string, error) {
	to := filepath.Join(a.asideDir(), strings.ReplaceAll(strings.TrimPrefix(dir, a.cfg.StateDir), string(filepath.Separator), "_"))
	if err := os.MkdirAll(filepath.Dir(to), 0o750); err != nil {
		return "", err
	}
	return to, os.Rename(dir, to)
}

// copyAside copies a directory of a running stream (which is deleted
// next) for whoever wants to look at it.
func (a *Agent) copyAside(dir string) (string, error) {
	to := filepath.Join(a.asideDir(), strings.ReplaceAll(strings.TrimPrefix(dir, a.cfg.StateDir), string(filepath.Separator), "_"))
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o750)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o600)
	})
	return to, err
}

// appendStoreReport adds f to the report file (written to a temporary
// file, fsynced, renamed, directory fsynced: it must survive the next
// power cut too).
func appendStoreReport(path string, f *storeFinding) error {
	var rep storeReport
	if b, err := os.ReadFile(path); err == nil {
		_ = json.Unmarshal(b, &rep) // a damaged report is replaced
	}
	rep.Checks = append(rep.Checks, *f)
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	fh, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	if _, err := fh.Write(append(b, '\n')); err != nil {
		fh.Close()
		return err
	}
	if err := fh.Sync(); err != nil {
		fh.Close()
		return err
	}
	if err := fh.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// storeHealth is the /healthz "store" check: "ok" (then /healthz leaves
// it out), or what the report says until it is deleted. It never makes
// the agent unhealthy: the agent sells on; a person has to look.
func (a *Agent) storeHealth() string {
	path := filepath.Join(a.cfg.StateDir, storeReportFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "ok"
	}
	var rep storeReport
	if err != nil || json.Unmarshal(b, &rep) != nil {
		return "damaged: see " + path + " (delete it to acknowledge)"
	}
	lost, rebuilt, remade := 0, 0, 0
	for _, c := range rep.Checks {
		for _, m := range c.LostMessages {
			lost += len(m)
		}
		rebuilt += len(c.RebuiltSales)
		if c.SaleStoreUnwritable != "" {
			remade++
		}
	}
	return fmt.Sprintf("damaged: %d messages lost, %d sale records rebuilt from events, sale store remade %d times; see %s (delete it to acknowledge)",
		lost, rebuilt, remade, path)
}

// registerStoreHealth adds the check to /healthz and a metric that is 1
// while a report is unacknowledged.
func (a *Agent) registerStoreHealth() {
	a.health.setStore(a.storeHealth)
	g := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "posagent_store_damage_unacknowledged",
		Help: "1 while state_dir/" + storeReportFile + " reports damage nobody has acknowledged (by deleting it)."},
		func() float64 {
			if a.storeHealth() == "ok" {
				return 0
			}
			return 1
		})
	_ = a.metrics.Registry().Register(g) // registered once per agent
}

// syncStoreDirs fsyncs every directory of the embedded server's store
// once its streams, bucket and consumers exist. nats-server fsyncs its
// message blocks and its metadata files (and their directory), but not
// the directories it creates for a new stream, consumer or message block:
// on a file system that keeps a new name only once its directory is
// fsynced, a power cut right after the first start could lose whole
// streams (docs/durability.md). ext4, the Raspberry Pi default, commits
// those names with the next fsync anyway; this costs one fsync per
// directory at start-up.
func (a *Agent) syncStoreDirs() {
	root := a.cfg.NATS.Embedded.StoreDir
	if a.cfg.NATS.URL != "" || root == "" {
		return // not this agent's files
	}
	n := 0
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if f, err := os.Open(p); err == nil {
			if f.Sync() == nil {
				n++
			}
			f.Close()
		}
		return nil
	})
	for dir := filepath.Dir(root); ; dir = filepath.Dir(dir) { // up to state_dir: the store's own name
		if f, err := os.Open(dir); err == nil {
			_ = f.Sync()
			f.Close()
		}
		if dir == a.cfg.StateDir || dir == filepath.Dir(dir) || !strings.HasPrefix(dir, a.cfg.StateDir) {
			break
		}
	}
	a.log.Debug("store directories synced", "dirs", n)
}
