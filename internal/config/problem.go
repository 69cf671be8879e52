package config

import (
	"bytes"
	"encoding/json"
	"strings"
)

// Problem is one thing wrong with a configuration, printed by `posagent
// config check` as one line: `key.path: reason (value)`.
type Problem struct {
	// Path is the key path with 0-based indices, e.g. "pos[1].printer.baud";
	// empty for a problem with the file as a whole (a YAML syntax error).
	Path   string
	Reason string
	// Value is the offending value as written, JSON-quoted (`"abc"`); nil
	// for a missing key, or where echoing the value could leak a secret.
	Value *string
}

// String renders the problem as `posagent config check` prints it (README, "Configure").
func (p Problem) String() string {
	var b strings.Builder
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	b.WriteString(p.Reason)
	if p.Value != nil {
		b.WriteString(" (")
		b.WriteString(*p.Value)
		b.WriteString(")")
	}
	return b.String()
}

// Errors is every problem found in one configuration. Parse returns all of
// them at once so an operator fixes the file in one round.
type Errors []Problem

// Error joins the problems, one per line.
func (e Errors) Error() string {
	lines := make([]string, len(e))
	for i, p := range e {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// As lets errors.As fill a *Errors target as well as an Errors one, so
// callers may write either `var e config.Errors` or `var e *config.Errors`.
func (e Errors) As(target any) bool {
	if t, ok := target.(**Errors); ok {
		c := e
		*t = &c
		return true
	}
	return false
}

// Warning is something on this machine that will likely stop the agent
// from working but does not make the file invalid (it may be checked on
// another machine than the one it is for).
type Warning struct {
	Path   string
	Reason string
}

// String renders the warning as `warning: key.path: reason`.
func (w Warning) String() string {
	return "warning: " + w.Path + ": " + w.Reason
}

// quote JSON-quotes s without HTML escaping, so a value reads as written.
func quote(s string) *string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // encoding a string cannot fail
	q := strings.TrimSuffix(b.String(), "\n")
	return &q
}
