package logging

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"sync"
)

// PrefixHandler writes slog text lines each starting with the sd-daemon
// priority prefix "<N>" (N the syslog priority: 3 error, 4 warning, 6 info,
// 7 debug). journald reads that prefix from a service's stderr stream, so
// priorities survive even without the native protocol.
type PrefixHandler struct {
	inner slog.Handler
	pw    *prefixWriter
}

// prefixWriter puts the current record's prefix in front of the one Write
// a slog.TextHandler makes per record, so a line is never split.
type prefixWriter struct {
	mu     sync.Mutex // held by PrefixHandler.Handle around the inner handler
	w      io.Writer
	prefix string
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.buf = append(append(p.buf[:0], p.prefix...), b...)
	if _, err := p.w.Write(p.buf); err != nil {
		return 0, err
	}
	return len(b), nil
}

// NewPrefixHandler returns a text handler on w with "<N>" line prefixes.
func NewPrefixHandler(w io.Writer, opts *slog.HandlerOptions) *PrefixHandler {
	pw := &prefixWriter{w: w}
	return &PrefixHandler{inner: slog.NewTextHandler(pw, opts), pw: pw}
}

// Enabled implements slog.Handler.
func (h *PrefixHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

// Handle implements slog.Handler.
func (h *PrefixHandler) Handle(ctx context.Context, r slog.Record) error {
	h.pw.mu.Lock()
	defer h.pw.mu.Unlock()
	h.pw.prefix = "<" + strconv.Itoa(int(journalPriority(r.Level))) + ">"
	return h.inner.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (h *PrefixHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &PrefixHandler{inner: h.inner.WithAttrs(as), pw: h.pw}
}

// WithGroup implements slog.Handler.
func (h *PrefixHandler) WithGroup(name string) slog.Handler {
	return &PrefixHandler{inner: h.inner.WithGroup(name), pw: h.pw}
}
