// Package secret provides a string type for credentials (the Mercado Pago
// access token, NATS passwords) that never prints itself: fmt, slog and JSON
// all see "[REDACTED]". Code that must send the value calls Reveal, so every
// place a secret leaves the process is greppable. ReadFile reads one from
// the file a configuration key names.
package secret

import (
	"fmt"
	"log/slog"
	"strings"
)

// Redacted is what a String prints instead of its value.
const Redacted = "[REDACTED]"

// String holds a secret value.
type String struct{ v string }

// New wraps v.
func New(v string) String { return String{v: v} }

// Reveal returns the value, for the one place that sends it.
func (s String) Reveal() string { return s.v }

// Empty reports whether no secret is set.
func (s String) Empty() bool { return s.v == "" }

// String implements fmt.Stringer.
func (s String) String() string { return Redacted }

// GoString implements fmt.GoStringer, so %#v is redacted too.
func (s String) GoString() string { return Redacted }

// Format implements fmt.Formatter: every verb prints Redacted.
func (s String) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(Redacted)) }

// LogValue implements slog.LogValuer.
func (s String) LogValue() slog.Value { return slog.StringValue(Redacted) }

// MarshalText implements encoding.TextMarshaler, so JSON and YAML output
// are redacted.
func (s String) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

// ReadFile reads a secret from the file at path, named in errors by its
// configuration key; errors never show the content. readFile is
// os.ReadFile, or a fake in tests.
func ReadFile(readFile func(string) ([]byte, error), key, path string) (String, error) {
	if path == "" {
		return String{}, fmt.Errorf("%s is required", key)
	}
	b, err := readFile(path)
	if err != nil {
		return String{}, fmt.Errorf("%s: cannot read %s: %w", key, path, err)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return String{}, fmt.Errorf("%s: %s is empty", key, path)
	}
	return New(v), nil
}
