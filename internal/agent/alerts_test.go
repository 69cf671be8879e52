package agent

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// registeredMetrics lists the posagent_* series names the code registers,
// read from its source so a series that no test produces still counts.
func registeredMetrics(t *testing.T) []string {
	t.Helper()
	var names []string
	for _, f := range []struct{ path, re string }{
		{"../metrics/metrics.go", `Name: "(posagent_\w+)"`},
		{"../metrics/ops.go", `NewDesc\("(posagent_\w+)"`},
	} {
		src, err := os.ReadFile(f.path)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(f.re).FindAllStringSubmatch(string(src), -1) {
			names = append(names, m[1])
		}
	}
	if len(names) < 10 {
		t.Fatalf("only %d metrics found in the source: %v", len(names), names)
	}
	return names
}

// TestAlertRules keeps deploy/prometheus/posagent-alerts.yml honest: well
// formed, and naming only series the agent exports. docs/fleet.md lists
// every series.
func TestAlertRules(t *testing.T) {
	names := registeredMetrics(t)
	raw, err := os.ReadFile("../../deploy/prometheus/posagent-alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				For         string            `yaml:"for"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	if err := dec.Decode(&file); err != nil {
		t.Fatal(err)
	}
	series := regexp.MustCompile(`posagent_\w+`)
	seen := map[string]bool{}
	for _, g := range file.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || r.Expr == "" || r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("rule %+v lacks alert, expr, severity or summary", r)
			}
			for _, s := range series.FindAllString(r.Expr, -1) {
				base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(s, "_bucket"), "_sum"), "_count")
				if !slices.Contains(names, base) {
					t.Errorf("rule %s uses %s, which the agent does not export", r.Alert, s)
				}
			}
			seen[r.Alert] = true
		}
	}
	for _, want := range []string{"PosagentAPITokenRefused", "PosagentPrinterPaperOut", "PosagentOrdersFailing", "PosagentConsumerLag"} {
		if !seen[want] {
			t.Errorf("no alert %s", want)
		}
	}
	// Every alert has a promtool unit test (CI runs them).
	tests, err := os.ReadFile("../../deploy/prometheus/posagent-alerts.test.yml")
	if err != nil {
		t.Fatal(err)
	}
	for a := range seen {
		if !strings.Contains(string(tests), "alertname: "+a+"\n") {
			t.Errorf("deploy/prometheus/posagent-alerts.test.yml has no test for %s", a)
		}
	}
	doc, err := os.ReadFile("../../docs/fleet.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if !strings.Contains(string(doc), "`"+n) {
			t.Errorf("docs/fleet.md does not list %s", n)
		}
	}
}
