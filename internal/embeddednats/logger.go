package embeddednats

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/posagent/posagent/internal/secret"
)

// plaintextPasswordWarning is logged by nats-server on every start when a
// password is configured without bcrypt. Here the password comes from a
// root-only file or a systemd credential and never sits in the config, so
// the advice does not apply; at Warn it would fill `journalctl -p warning`
// with noise an operator cannot act on.
const plaintextPasswordWarning = "Plaintext passwords detected"

// The line by which nats-server (v2.15) says a stream's file store took a
// write error (a full disk, an I/O error): from then on the store refuses
// every write, and the stream's writers get no answer, until the stream is
// reloaded, even after the cause is gone (Server.ReloadJetStream). The
// line is formatted with the stream's name before it reaches the logger.
// The server's other line, "JetStream stream '<account> > <stream>'
// critical write error", is not the sign: it also follows a message the
// stream could not read back (a damaged block), after which a server
// without a cluster goes on taking writes.
const (
	fileStoreLinePrefix = "Filestore ["
	fileStoreWriteError = "] Critical write error: %v" // the stream's name before it, the error as the argument
)

// WriteError is a stream of the agent's account that took a write error
// and now refuses writes.
type WriteError struct {
	Stream string // e.g. "POS_CMD", or "KV_<bucket>" for a key-value bucket
	Err    string // the server's reason, e.g. "no space left on device"
}

// logAdapter implements server.Logger on top of slog.
type logAdapter struct {
	log     *slog.Logger
	hide    []string // passwords: replaced if a server line ever carries one
	onFatal func(error)
	// onWriteError hears of every stream that took a write error; it is
	// called on the server's goroutine and must not block.
	onWriteError func(WriteError)
}

var _ server.Logger = (*logAdapter)(nil)

func newLogAdapter(log *slog.Logger, passwords []secret.String, onFatal func(error)) *logAdapter {
	a := &logAdapter{log: log, onFatal: onFatal}
	for _, p := range passwords {
		if !p.Empty() {
			a.hide = append(a.hide, p.Reveal())
		}
	}
	return a
}

func (a *logAdapter) Noticef(format string, v ...any) { a.emit(slog.LevelInfo, format, v) }

func (a *logAdapter) Warnf(format string, v ...any) {
	if strings.HasPrefix(format, plaintextPasswordWarning) {
		a.emit(slog.LevelInfo, format, v)
		return
	}
	a.emit(slog.LevelWarn, format, v)
}

func (a *logAdapter) Errorf(format string, v ...any) {
	a.emit(slog.LevelError, format, v)
	if a.onWriteError != nil {
		if we, ok := writeError(format, v); ok {
			a.onWriteError(we)
		}
	}
}

// writeError recognises a file store's write error among the server's
// error lines. Only the agent's account has streams; the registers' holds
// none.
func writeError(format string, v []any) (WriteError, bool) {
	if !strings.HasPrefix(format, fileStoreLinePrefix) || !strings.HasSuffix(format, fileStoreWriteError) || len(v) != 1 {
		return WriteError{}, false
	}
	name := strings.TrimSuffix(strings.TrimPrefix(format, fileStoreLinePrefix), fileStoreWriteError)
	return WriteError{Stream: name, Err: reason(v[0])}, true
}

// reason keeps the end of an error: "write /var/lib/.../4.blk: no space
// left on device" is "no space left on device"; where the store lives is
// the log's business, not /healthz's.
func reason(err any) string {
	s := fmt.Sprint(err)
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	return s
}

// Fatalf logs at Error and reports the failure to Start instead of exiting
// the process, which is what nats-server's own logger would do.
func (a *logAdapter) Fatalf(format string, v ...any) {
	msg := a.emit(slog.LevelError, format, v)
	if a.onFatal == nil {
		return
	}
	var cause error
	for _, arg := range v {
		if err, ok := arg.(error); ok {
			cause = err
			break
		}
	}
	a.onFatal(&fatalError{msg: msg, cause: cause})
}

func (a *logAdapter) Debugf(string, ...any) {}
func (a *logAdapter) Tracef(string, ...any) {}

// emit formats and logs one line, returning it (redacted).
func (a *logAdapter) emit(level slog.Level, format string, v []any) string {
	msg := fmt.Sprintf(format, v...)
	for _, h := range a.hide {
		msg = strings.ReplaceAll(msg, h, secret.Redacted)
	}
	a.log.Log(context.Background(), level, msg)
	return msg
}

// fatalError carries a fatal server log line and the error it was about.
type fatalError struct {
	msg   string
	cause error
}

func (e *fatalError) Error() string { return e.msg }
func (e *fatalError) Unwrap() error { return e.cause }
