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

// logAdapter implements server.Logger on top of slog.
type logAdapter struct {
	log     *slog.Logger
	hide    []string // passwords: replaced if a server line ever carries one
	onFatal func(error)
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

func (a *logAdapter) Errorf(format string, v ...any) { a.emit(slog.LevelError, format, v) }

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
