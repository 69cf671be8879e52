package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-systemd/v22/journal"

	"github.com/posagent/posagent/internal/secret"
)

// entry is one captured journal.Send call.
type entry struct {
	msg    string
	pri    journal.Priority
	fields map[string]string
}

// capture stands in for journald.
type capture struct {
	mu      sync.Mutex
	entries []entry
	err     error
}

func (c *capture) send(msg string, pri journal.Priority, fields map[string]string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries = append(c.entries, entry{msg, pri, maps.Clone(fields)})
	return c.err
}

func (c *capture) last(t *testing.T) entry {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) == 0 {
		t.Fatal("nothing sent to the journal")
	}
	return c.entries[len(c.entries)-1]
}

func fakeSystem(journald bool, c *capture, env map[string]string) system {
	return system{
		journalEnabled: func() bool { return journald },
		send:           c.send,
		getenv:         func(k string) string { return env[k] },
	}
}

func TestNewFormats(t *testing.T) {
	tests := []struct {
		format  string
		check   func(t *testing.T, out string)
		wantErr string
	}{
		{format: "text", check: func(t *testing.T, out string) {
			if !strings.Contains(out, `level=WARN msg="low paper" pos=P1`) {
				t.Errorf("text output %q", out)
			}
		}},
		{format: "json", check: func(t *testing.T, out string) {
			var m map[string]any
			if err := json.Unmarshal([]byte(out), &m); err != nil {
				t.Fatalf("json output %q: %v", out, err)
			}
			if m["msg"] != "low paper" || m["level"] != "WARN" || m["pos"] != "P1" {
				t.Errorf("json output %v", m)
			}
		}},
		{format: "xml", wantErr: `log format "xml": want "text", "json" or "journal"`},
		{format: "", wantErr: `log format "": want "text", "json" or "journal"`},
		{format: "JSON", wantErr: `log format "JSON"`},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			var buf bytes.Buffer
			l, closeFn, err := newLogger(tt.format, &buf, slog.LevelInfo, fakeSystem(false, &capture{}, nil))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			l.Debug("hidden")
			l.Warn("low paper", "pos", "P1")
			if err := closeFn(); err != nil {
				t.Fatal(err)
			}
			tt.check(t, strings.TrimSpace(buf.String()))
		})
	}
}

func TestJournalPriorities(t *testing.T) {
	tests := []struct {
		level slog.Level
		want  journal.Priority
	}{
		{slog.LevelDebug - 4, journal.PriDebug},
		{slog.LevelDebug, journal.PriDebug},
		{slog.LevelInfo, journal.PriInfo},
		{slog.LevelInfo + 2, journal.PriInfo},
		{slog.LevelWarn, journal.PriWarning},
		{slog.LevelError, journal.PriErr},
		{slog.LevelError + 4, journal.PriErr},
	}
	c := &capture{}
	l := slog.New(NewJournalHandler(c.send, slog.LevelDebug-8))
	for _, tt := range tests {
		l.Log(context.Background(), tt.level, "m")
		if got := c.last(t).pri; got != tt.want {
			t.Errorf("level %v -> priority %d, want %d", tt.level, got, tt.want)
		}
	}
}

func TestJournalLevelFilter(t *testing.T) {
	c := &capture{}
	l := slog.New(NewJournalHandler(c.send, slog.LevelWarn))
	l.Info("dropped")
	l.Warn("kept")
	if len(c.entries) != 1 || c.entries[0].msg != "kept" {
		t.Fatalf("entries = %+v", c.entries)
	}
}

func TestJournalFields(t *testing.T) {
	c := &capture{}
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	l := slog.New(NewJournalHandler(c.send, slog.LevelInfo)).
		With("store_id", "S001").
		WithGroup("http").
		With("method", "GET").
		WithGroup("empty") // attrs follow only from the record: still named
	l = l.WithGroup("")
	l.Info("request done",
		"status", 200,
		slog.Group("req", "path", "/x", "took", 1500*time.Millisecond),
		"saleID", "A-1",
		"_private", true,
		"9lives", "x",
		"message", "not the message",
		"café", "y",
		"at", at,
		"err", errors.New("boom"),
		slog.Group("", "inline", "z"),
		slog.Group("nothing"),
	)
	got := c.last(t)
	if got.msg != "request done" || got.pri != journal.PriInfo {
		t.Fatalf("message/priority = %q/%d", got.msg, got.pri)
	}
	want := map[string]string{
		"SYSLOG_IDENTIFIER":   "posagent",
		"STORE_ID":            "S001",
		"HTTP_METHOD":         "GET",
		"HTTP_EMPTY_STATUS":   "200",
		"HTTP_EMPTY_REQ_PATH": "/x",
		"HTTP_EMPTY_REQ_TOOK": "1.5s",
		"HTTP_EMPTY_SALE_ID":  "A-1",
		"HTTP_EMPTY_PRIVATE":  "true",
		"HTTP_EMPTY_9LIVES":   "x",
		"HTTP_EMPTY_MESSAGE":  "not the message",
		"HTTP_EMPTY_CAF":      "y",
		"HTTP_EMPTY_AT":       "2026-03-04T05:06:07Z",
		"HTTP_EMPTY_ERR":      "boom",
		"HTTP_EMPTY_INLINE":   "z",
	}
	for k, v := range want {
		if got.fields[k] != v {
			t.Errorf("field %s = %q, want %q", k, got.fields[k], v)
		}
	}
	if !strings.HasSuffix(got.fields["CODE_FILE"], "logging_test.go") || got.fields["CODE_LINE"] == "" ||
		!strings.HasSuffix(got.fields["CODE_FUNC"], "TestJournalFields") {
		t.Errorf("code location = %q:%q %q", got.fields["CODE_FILE"], got.fields["CODE_LINE"], got.fields["CODE_FUNC"])
	}
	for k := range got.fields {
		if _, ok := want[k]; !ok && !strings.HasPrefix(k, "CODE_") {
			t.Errorf("unexpected field %s=%q", k, got.fields[k])
		}
	}
	// Attributes of one logger must not leak into a sibling derived from
	// the same parent.
	base := slog.New(NewJournalHandler(c.send, slog.LevelInfo)).With("a", 1)
	base.With("b", 2).Info("one")
	base.With("c", 3).Info("two")
	if f := c.last(t).fields; f["B"] != "" || f["A"] != "1" || f["C"] != "3" {
		t.Errorf("sibling loggers share attrs: %v", f)
	}
}

func TestJournalSendError(t *testing.T) {
	c := &capture{err: errors.New("journald gone")}
	h := NewJournalHandler(c.send, slog.LevelInfo)
	r := slog.NewRecord(time.Now(), slog.LevelInfo, "m", 0)
	if err := h.Handle(context.Background(), r); err == nil || err.Error() != "journald gone" {
		t.Fatalf("Handle error = %v", err)
	}
}

func TestFieldName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"sale_id", "SALE_ID"},
		{"saleID", "SALE_ID"},
		{"externalPosID", "EXTERNAL_POS_ID"},
		{"HTTPStatus", "HTTP_STATUS"},
		{"v2API", "V2_API"},
		{"ALREADY_UPPER", "ALREADY_UPPER"},
		{"a.b-c d", "A_B_C_D"},
		{"a..b__c", "A_B_C"},
		{"trailing_", "TRAILING"},
		{"_cursor", "CURSOR"},
		{"__x", "X"},
		{"9lives", "FIELD_9LIVES"},
		{"", "FIELD"},
		{"___", "FIELD"},
		{"message", "FIELD_MESSAGE"},
		{"priority", "FIELD_PRIORITY"},
		{"syslog_identifier", "FIELD_SYSLOG_IDENTIFIER"},
		{"código", "C_DIGO"},
		{strings.Repeat("x", 80), strings.Repeat("X", 64)},
	}
	for _, tt := range tests {
		if got := fieldName(tt.in); got != tt.want {
			t.Errorf("fieldName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzFieldName(f *testing.F) {
	for _, s := range []string{"sale_id", "saleID", "_x", "9", "", "MESSAGE", "ñandú", "a\x00b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		name := fieldName(key)
		if name == "" || len(name) > maxFieldName {
			t.Fatalf("fieldName(%q) = %q: bad length", key, name)
		}
		if name[0] == '_' || isDigit(rune(name[0])) || reservedField(name) {
			t.Fatalf("fieldName(%q) = %q: bad start or reserved", key, name)
		}
		for _, r := range name {
			if !isUpper(r) && !isDigit(r) && r != '_' {
				t.Fatalf("fieldName(%q) = %q: bad rune %q", key, name, r)
			}
		}
	})
}

func TestJournalFallback(t *testing.T) {
	tests := []struct {
		name       string
		env        map[string]string
		wantPrefix []string // per line: note, info, error
	}{
		{"journal stream", map[string]string{"JOURNAL_STREAM": "8:12345"}, []string{"<4>", "<6>", "<3>"}},
		{"plain stderr", nil, []string{"", "", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			c := &capture{}
			l, _, err := newLogger("journal", &buf, slog.LevelInfo, fakeSystem(false, c, tt.env))
			if err != nil {
				t.Fatal(err)
			}
			l.Debug("hidden")
			l.Info("ready", "pos", "P1")
			l.With("store", "S001").WithGroup("api").Error("create failed", "code", "api_unavailable")
			lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
			if len(lines) != 3 {
				t.Fatalf("got %d lines:\n%s", len(lines), buf.String())
			}
			wantBodies := []string{
				`level=WARN msg="journald not available, logging text to stderr"`,
				`level=INFO msg=ready pos=P1`,
				`level=ERROR msg="create failed" store=S001 api.code=api_unavailable`,
			}
			for i, line := range lines {
				p := tt.wantPrefix[i]
				if !strings.HasPrefix(line, p+"time=") {
					t.Errorf("line %d %q: want prefix %q then time=", i, line, p)
				}
				if !strings.Contains(line, wantBodies[i]) {
					t.Errorf("line %d %q: want %q", i, line, wantBodies[i])
				}
			}
			if strings.Count(buf.String(), "journald not available") != 1 {
				t.Errorf("fallback note not exactly once:\n%s", buf.String())
			}
			if len(c.entries) != 0 {
				t.Errorf("sent %d entries to a journald that is not there", len(c.entries))
			}
		})
	}
}

func TestJournalNative(t *testing.T) {
	var buf bytes.Buffer
	c := &capture{}
	l, _, err := newLogger("journal", &buf, slog.LevelDebug, fakeSystem(true, c, nil))
	if err != nil {
		t.Fatal(err)
	}
	l.Debug("d")
	l.Warn("w", "k", "v")
	if buf.Len() != 0 {
		t.Errorf("stderr written with journald present: %q", buf.String())
	}
	if len(c.entries) != 2 || c.entries[0].pri != journal.PriDebug || c.entries[1].fields["K"] != "v" {
		t.Errorf("entries = %+v", c.entries)
	}
}

func TestPrefixHandlerConcurrentLines(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(NewPrefixHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	const workers, each = 4, 50
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			lw := l.With("worker", w)
			for i := range each {
				if i%2 == 0 {
					lw.Warn("w", "i", i)
				} else {
					lw.Debug("d", "i", i)
				}
			}
		})
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != workers*each {
		t.Fatalf("%d lines, want %d", len(lines), workers*each)
	}
	for _, line := range lines {
		ok := (strings.HasPrefix(line, "<4>time=") && strings.Contains(line, "level=WARN")) ||
			(strings.HasPrefix(line, "<7>time=") && strings.Contains(line, "level=DEBUG"))
		if !ok {
			t.Fatalf("bad line %q", line)
		}
	}
}

func TestSecretRedactedEverywhere(t *testing.T) {
	const v = "APP_USR-123456-very-secret"
	tok := secret.New(v)
	log := func(l *slog.Logger) {
		l.With("token", tok).WithGroup("g").Info("using token", "token", tok,
			slog.Group("nats", "password", tok), "wrapped", fmt.Errorf("auth %v", tok))
	}
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			var buf bytes.Buffer
			l, _, err := newLogger(format, &buf, slog.LevelInfo, fakeSystem(false, &capture{}, nil))
			if err != nil {
				t.Fatal(err)
			}
			log(l)
			if strings.Contains(buf.String(), v) || strings.Count(buf.String(), secret.Redacted) != 4 {
				t.Errorf("%s output not redacted: %s", format, buf.String())
			}
		})
	}
	t.Run("journal", func(t *testing.T) {
		c := &capture{}
		l, _, err := newLogger("journal", &bytes.Buffer{}, slog.LevelInfo, fakeSystem(true, c, nil))
		if err != nil {
			t.Fatal(err)
		}
		log(l)
		e := c.last(t)
		n := 0
		for k, fv := range e.fields {
			if strings.Contains(fv, v) {
				t.Errorf("field %s leaks the secret", k)
			}
			n += strings.Count(fv, secret.Redacted)
		}
		if n != 4 || e.fields["TOKEN"] != secret.Redacted || e.fields["G_NATS_PASSWORD"] != secret.Redacted {
			t.Errorf("journal fields not redacted as expected: %v", e.fields)
		}
	})
	t.Run("journal fallback", func(t *testing.T) {
		var buf bytes.Buffer
		l, _, err := newLogger("journal", &buf, slog.LevelInfo, fakeSystem(false, &capture{}, map[string]string{"JOURNAL_STREAM": "1:2"}))
		if err != nil {
			t.Fatal(err)
		}
		log(l)
		if strings.Contains(buf.String(), v) || strings.Count(buf.String(), secret.Redacted) != 4 {
			t.Errorf("fallback output not redacted: %s", buf.String())
		}
	})
}
