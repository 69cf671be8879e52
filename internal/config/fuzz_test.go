package config

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// FuzzParse: no input panics or hangs Parse; a parsed Config is valid; a
// refused one gives Errors whose every problem is one non-empty line (what
// `config check` prints).
func FuzzParse(f *testing.F) {
	if ex, err := os.ReadFile(examplePath); err == nil {
		f.Add(ex)
	}
	for _, s := range []string{
		base,
		"",
		"store_id: S1\npos: [\n",
		"- a\n",
		"a: &a [*a]\n",
		"store_id: S1\npos:\n  - external_pos_id: P1\n    printer: &p {transport: serial, device: /dev/x}\n  - {external_pos_id: P2, printer: {<<: *p}}\n",
		"x: &x {<<: *x}\n",
		"pos: [{displays: [{size: 99999999999999999999x1}]}]\n",
		"nats: {events_max_bytes: 9223372036854775807TiB, url: 'nats://[::1:4222'}\n",
		"{? [a]: b}\n",
		"---\n...\n---\n",
		aliasBomb(),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data)
		if err == nil {
			if c == nil {
				t.Fatal("nil Config and nil error")
			}
			if errs := c.Validate(); errs != nil {
				t.Fatalf("Parse accepted what Validate refuses:\n%v", errs)
			}
			c.Warnings(fakeEnv(nil, machine()))
			return
		}
		var errs Errors
		if !errors.As(err, &errs) || len(errs) == 0 {
			t.Fatalf("error %T %q is not a non-empty Errors", err, err)
		}
		for _, p := range errs {
			if s := p.String(); s == "" || strings.ContainsAny(s, "\n\r") {
				t.Fatalf("problem is not one line: %q", s)
			}
		}
	})
}
