package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Subjects as docs/protocol.md names them, for the driver's config.
const (
	subjectPrefix = "pos"
	storeID       = "BENCH"
	eventWait     = 30 * time.Second
	// screenWait is how long a sale waits for its QR frame once created.
	screenWait = 2 * time.Second
)

// posID is the external_pos_id of the i-th (0-based) POS.
func posID(i int) string { return fmt.Sprintf("POS%02d", i+1) }

// flow is how the registers end each sale.
type flow string

const (
	// flowCancel: sale, created, the register's cancel, canceled (two
	// commands per sale).
	flowCancel flow = "cancel"
	// flowPay: sale, created, paid in the simulator (POST
	// /simulator/orders/{id}/pay, as a customer's scan), processed once the
	// agent's poll sees it.
	flowPay flow = "pay"
	// flowSupersede: sale, created, and the next sale on the POS ends it
	// (canceled, then the next one's created): one command per sale, as a
	// register that rings up the next customer without canceling. The last
	// sale of a run stays open until cancelOpen.
	flowSupersede flow = "supersede"
)

// registers plays one register per POS, each on its own NATS connection.
type registers struct {
	regs []*reg
	flow flow   // "" is flowCancel
	sim  string // the simulator's base URL, for flowPay
}

type reg struct {
	pos  string
	nc   *nats.Conn
	js   jetstream.JetStream
	evc  chan event
	open string // flowSupersede: the sale the next one ends
	// screen, when set, is the POS's png display: each sale then also
	// waits until its QR is on screen, and times it.
	screen *screenWatch
}

type event struct {
	at      time.Time
	saleID  string
	status  string
	orderID string
	qrData  string
}

func connectRegisters(url string, n int) (*registers, error) {
	rs := &registers{}
	for i := range n {
		r, err := connectRegister(url, posID(i))
		if err != nil {
			rs.close()
			return nil, err
		}
		rs.regs = append(rs.regs, r)
	}
	return rs, nil
}

func connectRegister(url, pos string) (*reg, error) {
	nc, err := nats.Connect(url, nats.Name("benchdriver-"+pos))
	if err != nil {
		return nil, fmt.Errorf("register %s: %w", pos, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	r := &reg{pos: pos, nc: nc, js: js, evc: make(chan event, 64)}
	_, err = nc.Subscribe(subjectPrefix+"."+storeID+"."+pos+".evt.>", func(m *nats.Msg) {
		at := time.Now()
		var e struct {
			SaleID  string `json:"sale_id"`
			Status  string `json:"status"`
			OrderID string `json:"order_id"`
			QRData  string `json:"qr_data"`
		}
		if json.Unmarshal(m.Data, &e) == nil {
			r.evc <- event{at: at, saleID: e.SaleID, status: e.Status, orderID: e.OrderID, qrData: e.QRData}
		}
	})
	if err == nil {
		err = nc.Flush()
	}
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("register %s: subscribe: %w", pos, err)
	}
	return r, nil
}

func (rs *registers) close() {
	for _, r := range rs.regs {
		r.nc.Close()
	}
}

// loadResult is one load run as the registers saw it.
type loadResult struct {
	sales   int
	elapsed time.Duration
	created []time.Duration // sale sent -> created received, sorted
	shown   []time.Duration // sale sent -> its QR on screen (reg.screen), sorted
	// unseen counts the sales whose QR frame was not found on screen (the
	// QR reader misses some frames).
	unseen int
}

func (l loadResult) salesPerSecond() float64 { return float64(l.sales) / l.elapsed.Seconds() }

func (l loadResult) quantile(q float64) time.Duration { return quantile(l.created, q) }

// quantile of sorted durations; 0 for none.
func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[int(q*float64(len(d)-1))]
}

// run makes n sales over all POS in parallel, one at a time per POS: sale,
// wait for created, then end it as rs.flow says.
func (rs *registers) run(ctx context.Context, n int, prefix string) (loadResult, error) {
	var next atomic.Int64
	var mu sync.Mutex
	var firstErr error
	res := loadResult{created: make([]time.Duration, 0, n)}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	start := time.Now()
	for _, r := range rs.regs {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				st, err := r.sale(ctx, fmt.Sprintf("%s%d", prefix, i), rs.flow, rs.sim)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
					cancel()
				}
				if err == nil {
					res.add(st, r.screen != nil)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.sales = len(res.created)
	slices.Sort(res.created)
	slices.Sort(res.shown)
	return res, firstErr
}

// saleTimes are one sale's latencies from sending it; shown is -1 when
// its QR was not seen on screen.
type saleTimes struct{ created, shown time.Duration }

func (l *loadResult) add(st saleTimes, screen bool) {
	l.created = append(l.created, st.created)
	switch {
	case !screen:
	case st.shown < 0:
		l.unseen++
	default:
		l.shown = append(l.shown, st.shown)
	}
}

func (r *reg) sale(ctx context.Context, id string, f flow, sim string) (saleTimes, error) {
	start := time.Now()
	if err := r.send(ctx, "sale", `{"sale_id":"`+id+`","total_amount":"150.00","description":"Ticket `+id+
		`","items":[{"title":"Café con leche","unit_price":"75.00","quantity":2,"unit_measure":"unit","external_code":"7791234567890"}]}`); err != nil {
		return saleTimes{}, err
	}
	if f == flowSupersede && r.open != "" {
		if _, err := r.await(ctx, r.open, "canceled"); err != nil {
			return saleTimes{}, err
		}
		r.open = ""
	}
	created, err := r.await(ctx, id, "created")
	if err != nil {
		return saleTimes{}, err
	}
	st := saleTimes{created: created.at.Sub(start), shown: -1}
	if r.screen != nil {
		at, err := r.screen.await(ctx, start, created.qrData, screenWait)
		if err == nil {
			st.shown = at.Sub(start)
		} else if !errors.Is(err, errNotShown) {
			return saleTimes{}, err
		}
	}
	switch f {
	case flowPay:
		if err := payOrder(ctx, sim, created.orderID); err != nil {
			return saleTimes{}, fmt.Errorf("%s %s: %w", r.pos, id, err)
		}
		_, err = r.await(ctx, id, "processed")
	case flowSupersede:
		r.open = id
	default:
		err = r.cancel(ctx, id)
	}
	return st, err
}

// cancel cancels saleID and waits for its canceled event.
func (r *reg) cancel(ctx context.Context, saleID string) error {
	if err := r.send(ctx, "cancel", `{"sale_id":"`+saleID+`"}`); err != nil {
		return err
	}
	_, err := r.await(ctx, saleID, "canceled")
	return err
}

// cancelOpen cancels the sales flowSupersede left open.
func (rs *registers) cancelOpen(ctx context.Context) error {
	for _, r := range rs.regs {
		if r.open == "" {
			continue
		}
		if err := r.cancel(ctx, r.open); err != nil {
			return err
		}
		r.open = ""
	}
	return nil
}

// payOrder pays an order in the simulator, as a customer scanning its QR.
func payOrder(ctx context.Context, simURL, orderID string) error {
	ctx, cancel := context.WithTimeout(ctx, eventWait)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, simURL+"/simulator/orders/"+url.PathEscape(orderID)+"/pay", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("pay %s: %w", orderID, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("pay %s: %s: %s", orderID, resp.Status, b)
	}
	return nil
}

func (r *reg) send(ctx context.Context, verb, payload string) error {
	ctx, cancel := context.WithTimeout(ctx, eventWait)
	defer cancel()
	if _, err := r.js.Publish(ctx, subjectPrefix+"."+storeID+"."+r.pos+".cmd."+verb, []byte(payload)); err != nil {
		return fmt.Errorf("%s %s: %w", r.pos, verb, err)
	}
	return nil
}

// await skips events until saleID's status arrives and returns it.
func (r *reg) await(ctx context.Context, saleID, status string) (event, error) {
	t := time.NewTimer(eventWait)
	defer t.Stop()
	for {
		select {
		case e := <-r.evc:
			if e.saleID != saleID {
				continue
			}
			if e.status == status {
				return e, nil
			}
			if e.status == "rejected" || e.status == "failed" {
				return event{}, fmt.Errorf("%s %s: got %s waiting for %s", r.pos, saleID, e.status, status)
			}
		case <-t.C:
			return event{}, fmt.Errorf("%s %s: no %s event within %s", r.pos, saleID, status, eventWait)
		case <-ctx.Done():
			return event{}, ctx.Err()
		}
	}
}
