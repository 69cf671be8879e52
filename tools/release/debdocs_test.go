package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestWithoutTerminalDisplay: the packaged example loses the terminal
// display and its keys, and keeps everything else, the other displays'
// comments included.
func TestWithoutTerminalDisplay(t *testing.T) {
	cfg, err := os.ReadFile(filepath.Join(repoRoot(t), "configs", "posagent.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := withoutTerminalDisplay(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(got), "- type: terminal") {
		t.Error("the packaged example still has a terminal display")
	}
	for _, keep := range []string{"- type: png", "- type: framebuffer", "- type: web", "# type: terminal | web | png | framebuffer. Required.", "# png: the whole screen"} {
		if strings.Count(string(got), keep) != strings.Count(string(cfg), keep) {
			t.Errorf("the packaged example lost %q", keep)
		}
	}
	if removed := len(strings.Split(string(cfg), "\n")) - len(strings.Split(string(got), "\n")); removed < 2 || removed > 8 {
		t.Errorf("removed %d lines, want the terminal display's few", removed)
	}
	if _, err := withoutTerminalDisplay([]byte("pos: []\n")); err == nil {
		t.Error("no error for an example without a terminal display")
	}
}

// TestManPageFromHelp: the man page carries every line of the command's
// help text.
func TestManPageFromHelp(t *testing.T) {
	usage, err := commandUsage(repoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(usage, "run ") || !strings.Contains(usage, "config check") {
		t.Fatalf("usage constant looks wrong: %q", usage)
	}
	man := string(manPage(options{Version: "1.2.3", MTime: time.Unix(1700000000, 0)}, usage))
	for l := range strings.SplitSeq(strings.TrimSpace(usage), "\n") {
		if !strings.Contains(man, strings.ReplaceAll(l, "-", `\-`)) {
			t.Errorf("man page lacks the help line %q", l)
		}
	}
	if !strings.HasPrefix(man, ".TH POSAGENT 1 \"2023-11-14\" \"posagent 1.2.3\"") {
		t.Errorf("man page header: %q", strings.SplitN(man, "\n", 2)[0])
	}
}

// TestCopyrightRefusesAnUnknownModule: a module linked into the binary
// without a license in the table stops the release.
func TestCopyrightRefusesAnUnknownModule(t *testing.T) {
	self, err := os.Executable() // this test binary links nfpm and more
	if err != nil {
		t.Fatal(err)
	}
	if _, err := copyrightFile(self); err == nil || !strings.Contains(err.Error(), "moduleLicenses") {
		t.Errorf("copyrightFile of a binary with unknown modules: %v, want an error naming moduleLicenses", err)
	}
}
