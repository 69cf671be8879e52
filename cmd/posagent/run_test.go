package main

import (
	"context"
	"regexp"
	"testing"
)

// TestRunConfigErrorUnderJournal: with -log-format journal the reason run
// stops goes to stderr (the unit's journal stream) at priority 3, so
// `journalctl -u posagent -p err` shows it even though the process is gone
// before journald could look up its unit for a native entry.
func TestRunConfigErrorUnderJournal(t *testing.T) {
	dir := t.TempDir()
	cfg := writeTestFile(t, dir, "posagent.yaml", "store_id: S1\nstate_dir: "+dir+"\nno_such_key: 1\npos: [{external_pos_id: P1}]\n", 0o600)
	r := runCLI(t, context.Background(), "run", "-config", cfg, "-log-format", "journal")
	if r.code != exitConfig {
		t.Fatalf("want exit 78\n%s", r)
	}
	if !regexp.MustCompile(`(?m)^<3>.*configuration error: not starting`).MatchString(r.stderr) {
		t.Errorf("no <3>-prefixed (error priority) line saying why on stderr\n%s", r)
	}
	if !regexp.MustCompile(`(?m)^no_such_key: unknown key$`).MatchString(r.stderr) {
		t.Errorf("the problem itself is not on stderr\n%s", r)
	}
}
