package metrics

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

type fakeOps struct {
	checks, printers map[string]string
	hub              string
}

func (f fakeOps) Checks() map[string]string        { return f.checks }
func (f fakeOps) PrinterHealth() map[string]string { return f.printers }
func (f fakeOps) HubLink() string                  { return f.hub }

func TestRegisterOps(t *testing.T) {
	for _, c := range []struct {
		hub  string
		want []string
	}{
		{"", nil},
		{"connected", []string{"posagent_hub_connected 1"}},
		{"disconnected", []string{"posagent_hub_connected 0"}},
	} {
		t.Run("hub="+c.hub, func(t *testing.T) {
			m := New()
			m.RegisterOps(fakeOps{
				checks:   map[string]string{"nats": "ok", "api_token": "unknown", "printer:POS1": "paper_out: replace the roll"},
				printers: map[string]string{"POS1": "paper_out: replace the roll", "POS2": "ok"},
				hub:      c.hub,
			}, "1.2.3", "S001")
			want := append([]string{
				`posagent_build_info{store_id="S001",version="1.2.3"} 1`,
				`posagent_check_failing{check="api_token"} 0`,
				`posagent_check_failing{check="nats"} 0`,
				`posagent_check_failing{check="printer:POS1"} 1`,
				`posagent_printer_status{pos="POS1",status="paper_out"} 1`,
				`posagent_printer_status{pos="POS2",status="ok"} 1`,
			}, c.want...)
			slices.Sort(want)
			if got := gatherOps(t, m); !slices.Equal(got, want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

// gatherOps is the ops series as `name{labels} value` lines, sorted.
func gatherOps(t *testing.T, m *Metrics) []string {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, mf := range mfs {
		switch mf.GetName() {
		case "posagent_build_info", "posagent_check_failing", "posagent_printer_status", "posagent_hub_connected":
		default:
			continue
		}
		for _, mt := range mf.GetMetric() {
			var labels []string
			for _, l := range mt.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			line := mf.GetName()
			if len(labels) > 0 {
				line += "{" + strings.Join(labels, ",") + "}"
			}
			out = append(out, fmt.Sprintf("%s %g", line, mt.GetGauge().GetValue()))
		}
	}
	slices.Sort(out)
	return out
}
