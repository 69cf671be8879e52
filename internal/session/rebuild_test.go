package session

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/posagent/posagent/internal/events"
)

// mapStore is an in-memory Store holding JSON, as the sale store does.
type mapStore map[string][]byte

func (m mapStore) Get(_ context.Context, key string, v any) (bool, error) {
	b, ok := m[key]
	if !ok {
		return false, nil
	}
	return true, json.Unmarshal(b, v)
}

func (m mapStore) Put(_ context.Context, key string, v any) error {
	b, err := json.Marshal(v)
	m[key] = b
	return err
}

func (m mapStore) Delete(_ context.Context, key string) error { delete(m, key); return nil }

func TestRebuildRecords(t *testing.T) {
	ctx := context.Background()
	st := mapStore{}
	// s2's record came back old (awaiting) from a damaged store.
	if err := st.Put(ctx, "sale.P1.s2", &saleRecord{SaleID: "s2", Fingerprint: "fp2", State: stateAwaiting, OrderID: "O2",
		LastEvent: events.Event{SaleID: "s2", Status: events.Created, OrderID: "O2"}}); err != nil {
		t.Fatal(err)
	}
	created := func(id, order string) events.Event {
		return events.Event{SaleID: id, OrderID: order, Status: events.Created, QRData: "qr-" + id, ExpiresAt: "2026-12-04T17:00:00Z",
			TotalAmount: "12.50", Mode: "hybrid"}
	}
	final := func(id, order, status string) events.Event {
		return events.Event{SaleID: id, OrderID: order, Status: status}
	}
	latest := map[string][]events.Event{
		"s1": {created("s1", "O1"), final("s1", "O1", events.Processed)},                                                                         // missing
		"s2": {created("s2", "O2"), final("s2", "O2", events.Canceled)},                                                                          // behind
		"s3": {created("s3", "O3")},                                                                                                              // missing, still open
		"s4": {{SaleID: "s4", Status: events.Failed}},                                                                                            // failed: left alone
		"s5": {created("s5", "O5"), final("s5", "O5", events.Processed), {SaleID: "s5", OrderID: "O5", Status: events.Refunded, RefundID: "r1"}}, // refunded
	}
	rebuilt, updated, err := RebuildRecords(ctx, st, "P1", latest, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(rebuilt)
	if !slices.Equal(rebuilt, []string{"s1", "s3", "s5"}) || !slices.Equal(updated, []string{"s2"}) {
		t.Fatalf("rebuilt %v, updated %v; want [s1 s3 s5], [s2]", rebuilt, updated)
	}
	get := func(id string) saleRecord {
		var r saleRecord
		if ok, _ := st.Get(ctx, "sale.P1."+id, &r); !ok {
			t.Fatalf("no record for %s", id)
		}
		return r
	}
	if r := get("s1"); r.State != stateProcessed || r.OrderID != "O1" || r.Fingerprint != "" || r.LastEvent.Status != events.Processed {
		t.Errorf("s1 rebuilt as %+v", r)
	}
	if r := get("s2"); r.State != stateCanceled || r.Fingerprint != "fp2" {
		t.Errorf("s2 updated as %+v: want canceled, fingerprint kept", r)
	}
	if r := get("s3"); r.State != stateAwaiting || r.QRData != "qr-s3" || r.ExpiresAt.IsZero() ||
		r.Request.TotalAmount.String() != "12.50" || r.Request.Config.QR.Mode != "hybrid" {
		t.Errorf("s3 rebuilt as %+v", r)
	}
	if r := get("s5"); r.State != stateRefunded || r.Refunds["r1"].Event.RefundID != "r1" || r.LastEvent.Status != events.Processed {
		t.Errorf("s5 rebuilt as %+v", r)
	}
	if _, ok := st["sale.P1.s4"]; ok {
		t.Error("a failed sale got a record")
	}
	var pr posRecord
	if ok, _ := st.Get(ctx, "pos.P1", &pr); !ok || pr.Active != "s3" {
		t.Errorf("POS record %+v: want s3 active again", pr)
	}
	// A second pass finds nothing to do.
	if rebuilt, updated, err := RebuildRecords(ctx, st, "P1", latest, time.Now()); err != nil || len(rebuilt)+len(updated) > 0 {
		t.Errorf("second pass: rebuilt %v, updated %v, %v", rebuilt, updated, err)
	}
}

// TestRebuildRecordsAfterAnEndedSale: the POS record still names the last
// sale that ended (it is not cleared when a sale ends); an open sale whose
// record was lost becomes the active one again, so it is polled; one that
// names an open sale keeps it.
func TestRebuildRecordsAfterAnEndedSale(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, oldState, want string
	}{
		{"ended", stateProcessed, "s3"},
		{"still open", stateAwaiting, "s0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := mapStore{}
			if err := st.Put(ctx, "sale.P1.s0", &saleRecord{SaleID: "s0", State: tc.oldState, OrderID: "O0"}); err != nil {
				t.Fatal(err)
			}
			if err := st.Put(ctx, "pos.P1", &posRecord{Active: "s0"}); err != nil {
				t.Fatal(err)
			}
			latest := map[string][]events.Event{"s3": {{SaleID: "s3", OrderID: "O3", Status: events.Created, QRData: "qr", TotalAmount: "1.00", Mode: "dynamic"}}}
			if _, _, err := RebuildRecords(ctx, st, "P1", latest, time.Now()); err != nil {
				t.Fatal(err)
			}
			var pr posRecord
			if ok, _ := st.Get(ctx, "pos.P1", &pr); !ok || pr.Active != tc.want {
				t.Errorf("POS record %+v: want %s active", pr, tc.want)
			}
		})
	}
}
