package fleet

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/posagent/posagent/internal/events"
)

// RowJSON is a row as `posagent fleet -json` prints it, one object per
// line. Ages and uptimes are whole seconds at the time of printing.
type RowJSON struct {
	StoreID       string        `json:"store_id"`
	StoreName     string        `json:"store_name,omitempty"`
	POS           string        `json:"pos,omitempty"`
	State         string        `json:"state,omitempty"`
	SaleID        string        `json:"sale_id,omitempty"`
	OrderID       string        `json:"order_id,omitempty"`
	TotalAmount   string        `json:"total_amount,omitempty"`
	Printer       string        `json:"printer,omitempty"`
	LastEvent     *events.Event `json:"last_event,omitempty"`
	LastEventAge  *int64        `json:"last_event_age_s,omitempty"`
	Version       string        `json:"version"`
	Started       string        `json:"started,omitempty"`
	UptimeSeconds *int64        `json:"uptime_s,omitempty"`
	AgentID       string        `json:"agent_id"`
	Subject       string        `json:"subject,omitempty"`
	Error         string        `json:"error,omitempty"`
}

// JSON is r as printed with -json, at time now.
func (r Row) JSON(now time.Time) RowJSON {
	j := RowJSON{StoreID: r.Agent.StoreID, StoreName: r.Agent.StoreName, POS: r.POS, Version: r.Agent.Version,
		AgentID: r.Agent.ID, Subject: r.Subject}
	if !r.Agent.Started.IsZero() {
		j.Started = r.Agent.Started.UTC().Format(time.RFC3339)
		up := int64(now.Sub(r.Agent.Started) / time.Second)
		j.UptimeSeconds = &up
	}
	if r.Err != nil {
		j.Error = r.Err.Error()
	}
	if st := r.Status; st != nil {
		j.State, j.SaleID, j.OrderID, j.TotalAmount, j.Printer, j.LastEvent = st.State, st.SaleID, st.OrderID, st.TotalAmount, st.Printer, st.LastEvent
		if age, ok := lastEventAge(st, now); ok {
			s := int64(age / time.Second)
			j.LastEventAge = &s
		}
	}
	return j
}

func lastEventAge(st *events.StatusReply, now time.Time) (time.Duration, bool) {
	if st == nil || st.LastEvent == nil {
		return 0, false
	}
	at, err := time.Parse(time.RFC3339Nano, st.LastEvent.At)
	if err != nil {
		return 0, false
	}
	return max(now.Sub(at), 0), true
}

// Table writes rows as aligned columns as they come: the widths are fixed
// up front, since later rows cannot move earlier ones. A value wider than
// its column pushes the rest of its line along.
type Table struct {
	w      io.Writer
	header bool
	widths []int // nil: the columns' default widths
}

// NewTable returns a table writing to w; the header goes before the first
// row.
func NewTable(w io.Writer) *Table { return &Table{w: w} }

var columns = []struct {
	title string
	width int
}{
	{"STORE", 10}, {"POS", 16}, {"STATE", 16}, {"SALE", 14}, {"AMOUNT", 11},
	{"LAST EVENT", 18}, {"VERSION", 11}, {"UPTIME", 8}, {"PRINTER", 0},
}

// Fit widens the columns to the widest value of rows, for a caller that
// has every row before it writes (posagent status): then nothing is pushed
// out of its column.
func (t *Table) Fit(rows []Row, now time.Time) {
	t.widths = make([]int, len(columns))
	for i, c := range columns {
		t.widths[i] = c.width
	}
	for _, r := range rows {
		for i, c := range cells(r, now) {
			t.widths[i] = max(t.widths[i], len([]rune(c)))
		}
	}
}

func (t *Table) line(cells []string) error {
	var b strings.Builder
	for i, c := range cells {
		if i == len(cells)-1 {
			b.WriteString(c)
			break
		}
		width := columns[i].width
		if t.widths != nil {
			width = t.widths[i]
		}
		b.WriteString(c)
		b.WriteString(strings.Repeat(" ", max(width-len([]rune(c)), 0)+1))
	}
	_, err := fmt.Fprintln(t.w, strings.TrimRight(b.String(), " "))
	return err
}

// Header writes the column titles (once; Write calls it).
func (t *Table) Header() error {
	if t.header {
		return nil
	}
	t.header = true
	titles := make([]string, len(columns))
	for i, c := range columns {
		titles[i] = c.title
	}
	return t.line(titles)
}

// Write writes one row as of now.
func (t *Table) Write(r Row, now time.Time) error {
	if err := t.Header(); err != nil {
		return err
	}
	return t.line(cells(r, now))
}

// cells are the column values of one row as of now.
func cells(r Row, now time.Time) []string {
	uptime := "-"
	if !r.Agent.Started.IsZero() {
		uptime = Duration(now.Sub(r.Agent.Started))
	}
	cells := []string{orDash(r.Agent.StoreID), orDash(r.POS), "-", "-", "-", "-", orDash(r.Agent.Version), uptime, "-"}
	switch st := r.Status; {
	case r.Err != nil:
		cells[2], cells[8] = "unreachable", "error: "+r.Err.Error()
	case r.POS == "":
		cells[2] = "no POS"
	case st != nil:
		cells[2] = st.State
		if st.State == "awaiting_payment" {
			cells[3], cells[4] = orDash(st.SaleID), orDash(st.TotalAmount)
		}
		if age, ok := lastEventAge(st, now); ok {
			cells[5] = st.LastEvent.Status + " " + Duration(age)
		}
		cells[8] = orDash(st.Printer)
	}
	return cells
}

// Duration writes d compactly for a column: 45s, 12m30s, 5h12m, 3d4h.
func Duration(d time.Duration) string {
	s := int64(max(d, 0) / time.Second)
	day, h, m := s/86400, s%86400/3600, s%3600/60
	switch {
	case day > 0:
		return strconv.FormatInt(day, 10) + "d" + strconv.FormatInt(h, 10) + "h"
	case h > 0:
		return strconv.FormatInt(h, 10) + "h" + strconv.FormatInt(m, 10) + "m"
	case m > 0:
		return strconv.FormatInt(m, 10) + "m" + strconv.FormatInt(s%60, 10) + "s"
	}
	return strconv.FormatInt(s, 10) + "s"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// WriteJSON writes r as one line of JSON.
func WriteJSON(w io.Writer, r Row, now time.Time) error {
	b, err := json.Marshal(r.JSON(now))
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}
