package config

import (
	"strings"
	"testing"
)

// A YAML syntax error is reported on the line where it is, not on the line
// where the enclosing block began (the YAML library's own message names the
// latter), so an operator editing over SSH goes straight to it.
func TestSyntaxErrorLine(t *testing.T) {
	head := "store_id: S1\npos:\n  - external_pos_id: P1\n    mode: dynamic\n    displays:\n"
	for name, c := range map[string]struct {
		text string
		line string
	}{
		"dedented list item":               {head + "   - type: web\n", "line 6:"},
		"tab":                              {head + "\t- type: web\n", "line 6:"},
		"unclosed quote":                   {head + "      - type: \"web\n", "line 6:"},
		"unclosed flow":                    {"store_id: S1\nstore_name: x\nlocale: es-AR\nhttp:\n  listen: 127.0.0.1:8080\n  bad: [1, 2\n", "line 6:"},
		"bad indent":                       {"store_id: S1\nstore_name: x\nlocale: es-AR\npos:\n  - external_pos_id: P1\n   mode: dynamic\n", "line 6:"},
		"in a long file":                   {head + "      - type: web\n" + strings.Repeat("# comment\n", 20) + "state_dir: /x\n  oops: 1\n", "line 28:"},
		"multi-line flow before the error": {"store_id: S1\nlocale: [es-AR,\n  pt-BR]\nhttp:\n  listen: x\n bad: 1\n", "line 6:"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(c.text))
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), "YAML syntax error: "+c.line) {
				t.Errorf("want the error on %s got:\n%v", c.line, err)
			}
		})
	}
}
