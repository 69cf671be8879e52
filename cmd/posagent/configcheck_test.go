package main

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// problemLine is one line `config check` must print for a bad file.
type problemLine struct {
	path  string
	value string // JSON-quoted as printed; "" when the line has no (value)
}

func (p problemLine) re() *regexp.Regexp {
	if p.value == "" {
		// No value: the line ends with the reason, not with "(...)".
		return regexp.MustCompile(`^` + regexp.QuoteMeta(p.path) + `: [^()]*[^()\s]$`)
	}
	return regexp.MustCompile(`^` + regexp.QuoteMeta(p.path) + `: .+ \(` + regexp.QuoteMeta(p.value) + `\)$`)
}

// outputLines splits an output into its lines.
func outputLines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func TestConfigCheckExample(t *testing.T) {
	example := filepath.Join("..", "..", "configs", "posagent.yaml")
	r := runCLI(t, context.Background(), "config", "check", "-config", example)
	if r.code != exitOK {
		t.Fatalf("the documented example does not pass\n%s", r)
	}
	warning := regexp.MustCompile(`^warning: [a-z_]+(\[\d+\])?(\.[a-z_]+(\[\d+\])?)*: \S.*$`)
	for _, l := range outputLines(r.stderr) {
		if !warning.MatchString(l) {
			t.Errorf("stderr line %q is not `warning: key.path: reason`\n%s", l, r)
		}
	}
}

func TestConfigCheckWarnings(t *testing.T) {
	noTokenEnv(t)
	dir := t.TempDir()
	tok := writeTestFile(t, dir, "mp-access-token", "APP_USR-warned\n", 0o644)
	cfg := writeTestFile(t, dir, "posagent.yaml", `store_id: S1
state_dir: `+filepath.Join(dir, "absent")+`
mercadopago: {access_token_file: `+tok+`}
nats: {embedded: {listen: "0.0.0.0:4222"}}
http: {listen: "0.0.0.0:8080"}
pos: [{external_pos_id: P1, displays: [{type: web}]}]
`, 0o600)
	r := runCLI(t, context.Background(), "config", "check", "-config", cfg)
	if r.code != exitOK {
		t.Fatalf("warnings must not fail the check\n%s", r)
	}
	got := outputLines(r.stderr)
	for _, path := range []string{"mercadopago.access_token_file", "nats.embedded.listen", "http.listen", "state_dir"} {
		prefix := "warning: " + path + ": "
		found := false
		for _, l := range got {
			found = found || strings.HasPrefix(l, prefix) && len(l) > len(prefix)
		}
		if !found {
			t.Errorf("no %q line\n%s", prefix, r)
		}
	}
	for _, l := range got {
		if !strings.HasPrefix(l, "warning: ") {
			t.Errorf("stderr line %q is not a warning\n%s", l, r)
		}
	}
	assertNoSecret(t, "APP_USR-warned", r)
}

func TestConfigCheckErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []problemLine // every line of stderr, in order
	}{
		{
			name: "static POS without its QR",
			yaml: "store_id: S1\npos:\n  - external_pos_id: P1\n    mode: static\n",
			want: []problemLine{{path: "pos[0].static_qr_data"}},
		},
		{
			name: "every problem at once, 0-based indices, JSON-quoted values",
			yaml: `store_id: "a\"b"
frobnicate: 1
mercadopago: {base_url: "https://user:hunter2@api.example.com"}
pos:
  - external_pos_id: P1
    mode: static
  - external_pos_id: P1
    printer: {transport: serial, device: /dev/ttyUSB9, baud: 1234}
`,
			want: []problemLine{
				{path: "frobnicate"},
				{path: "store_id", value: `"a\"b"`},
				{path: "mercadopago.base_url"}, // holds a password: never echoed
				{path: "pos[0].static_qr_data"},
				{path: "pos[1].external_pos_id", value: `"P1"`},
				{path: "pos[1].printer.baud", value: `"1234"`},
			},
		},
		{
			name: "no POS",
			yaml: "store_id: S1\n",
			want: []problemLine{{path: "pos"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := writeTestFile(t, t.TempDir(), "posagent.yaml", tt.yaml, 0o600)
			r := runCLI(t, context.Background(), "config", "check", "-config", cfg)
			if r.code != exitUsage {
				t.Fatalf("want exit 2\n%s", r)
			}
			got := outputLines(r.stderr)
			if len(got) != len(tt.want) {
				t.Fatalf("want %d lines on stderr, got %d\n%s", len(tt.want), len(got), r)
			}
			for i, w := range tt.want {
				if !w.re().MatchString(got[i]) {
					t.Errorf("line %d is %q, want it to match %s", i+1, got[i], w.re())
				}
			}
			if strings.Contains(r.stderr, "hunter2") || strings.Contains(r.stdout, "hunter2") {
				t.Errorf("a password in the config was echoed\n%s", r)
			}
		})
	}
}

func TestConfigCheckPinnedLine(t *testing.T) {
	// The README ("Configure") and docs/ spell this line out.
	cfg := writeTestFile(t, t.TempDir(), "posagent.yaml", "store_id: S1\npos: [{external_pos_id: P1, mode: static}]\n", 0o600)
	r := runCLI(t, context.Background(), "config", "check", "-config", cfg)
	if r.code != exitUsage || r.stderr != "pos[0].static_qr_data: required for mode static\n" {
		t.Fatalf("want exactly `pos[0].static_qr_data: required for mode static`, exit 2\n%s", r)
	}
}

func TestConfigCheckUnreadable(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope.yaml")
	r := runCLI(t, context.Background(), "config", "check", "-config", missing)
	if r.code != exitUsage || !strings.Contains(r.stderr, missing) {
		t.Errorf("want exit 2 naming %s\n%s", missing, r)
	}

	syntax := writeTestFile(t, dir, "syntax.yaml", "store_id: [\n", 0o600)
	r = runCLI(t, context.Background(), "config", "check", "-config", syntax)
	if r.code != exitUsage || !strings.Contains(strings.ToLower(r.stderr), "yaml") || !strings.Contains(r.stderr, "line 1") {
		t.Errorf("want exit 2 with the YAML error and its line\n%s", r)
	}
}

// TestConfigCheckHidesBaseURLSecrets: a token put in base_url (query,
// fragment, user information, or a URL that does not parse) makes `config
// check` fail naming the key, never printing the token.
func TestConfigCheckHidesBaseURLSecrets(t *testing.T) {
	const tok = "APP_USR-in-the-url-1234"
	for _, base := range []string{"https://api.mercadopago.com/?access_token=" + tok, "https://api.mercadopago.com/#" + tok,
		"https://" + tok + "@api.mercadopago.com", "https://x:" + tok + "@api.mercadopago.com", "ftp://api.mercadopago.com/?t=" + tok,
		"https://api.mercadopago.com/%zz?t=" + tok} {
		cfg := writeTestFile(t, t.TempDir(), "posagent.yaml", "store_id: S1\nmercadopago: {base_url: \""+base+"\"}\npos: [{external_pos_id: P1}]\n", 0o600)
		r := runCLI(t, context.Background(), "config", "check", "-config", cfg)
		if r.code != exitUsage || !strings.Contains(r.stderr, "mercadopago.base_url: ") {
			t.Errorf("%s: want exit %d naming mercadopago.base_url\n%s", base, exitUsage, r)
		}
		assertNoSecret(t, tok, r)
	}
}
