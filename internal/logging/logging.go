// Package logging builds posagent's *slog.Logger for the -log-format flag:
// text or JSON on stderr, or native journald entries with priorities and
// structured fields, so `journalctl -p warning -u posagent` works. When
// journald is not reachable it falls back to text on stderr, with sd-daemon
// "<N>" priority prefixes when stderr is a journal stream.
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/coreos/go-systemd/v22/journal"
)

// allowedFormats lists the values New accepts, for its error message.
const allowedFormats = `"text", "json" or "journal"`

// system is what New needs from the machine, injectable for tests.
type system struct {
	journalEnabled func() bool
	send           SendFunc
	getenv         func(string) string
}

func realSystem() system {
	return system{journalEnabled: journal.Enabled, send: journal.Send, getenv: os.Getenv}
}

// New returns a logger for format ("text", "json" or "journal") writing
// records at level and above. The returned func releases what the logger
// holds; call it before exit (today it has nothing to flush).
func New(format string, stderr io.Writer, level slog.Level) (*slog.Logger, func() error, error) {
	return newLogger(format, stderr, level, realSystem())
}

func newLogger(format string, stderr io.Writer, level slog.Level, sys system) (*slog.Logger, func() error, error) {
	noop := func() error { return nil }
	opts := &slog.HandlerOptions{Level: level}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(stderr, opts)), noop, nil
	case "json":
		return slog.New(slog.NewJSONHandler(stderr, opts)), noop, nil
	case "journal":
		if sys.journalEnabled() {
			return slog.New(NewJournalHandler(sys.send, level)), noop, nil
		}
		// journald's socket is absent (a container, a dev machine, early
		// boot): keep logging rather than lose every line.
		stream := sys.getenv("JOURNAL_STREAM") != ""
		var h slog.Handler
		if stream {
			h = NewPrefixHandler(stderr, opts)
		} else {
			h = slog.NewTextHandler(stderr, opts)
		}
		l := slog.New(h)
		l.Warn("journald not available, logging text to stderr", "priority_prefix", stream)
		return l, noop, nil
	}
	return nil, nil, fmt.Errorf("log format %q: want %s", format, allowedFormats)
}
