package logging

import (
	"context"
	"log/slog"
	"runtime"
	"strconv"
	"time"

	"github.com/coreos/go-systemd/v22/journal"
)

// Identifier is the SYSLOG_IDENTIFIER of every journal entry, what
// `journalctl -t posagent` selects.
const Identifier = "posagent"

// maxFieldName is journald's limit on field name length.
const maxFieldName = 64

// SendFunc sends one journal entry; journal.Send is the real one, tests
// pass a function that records its arguments.
type SendFunc func(message string, priority journal.Priority, fields map[string]string) error

// JournalHandler is a slog.Handler writing native journald entries: the
// record's message as MESSAGE, its level as PRIORITY, and every attribute as
// a field named in journald's UPPER_SNAKE form, groups joined with "_"
// (group "http", key "status" -> HTTP_STATUS). A send error is returned from
// Handle; slog drops it, as it does write errors of its own handlers.
type JournalHandler struct {
	send   SendFunc
	level  slog.Leveler
	prefix string  // open groups, each followed by "_"; sanitised with the key
	fields []field // from WithAttrs, already named
}

type field struct{ name, value string }

// NewJournalHandler returns a handler sending records at level and above
// through send.
func NewJournalHandler(send SendFunc, level slog.Leveler) *JournalHandler {
	return &JournalHandler{send: send, level: level}
}

// Enabled implements slog.Handler.
func (h *JournalHandler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= h.level.Level()
}

// WithAttrs implements slog.Handler.
func (h *JournalHandler) WithAttrs(as []slog.Attr) slog.Handler {
	if len(as) == 0 {
		return h
	}
	h2 := *h
	h2.fields = make([]field, len(h.fields), len(h.fields)+len(as))
	copy(h2.fields, h.fields)
	for _, a := range as {
		h2.fields = appendAttr(h2.fields, h.prefix, a)
	}
	return &h2
}

// WithGroup implements slog.Handler.
func (h *JournalHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.prefix = h.prefix + name + "_"
	return &h2
}

// Handle implements slog.Handler.
func (h *JournalHandler) Handle(_ context.Context, r slog.Record) error {
	fields := make(map[string]string, len(h.fields)+r.NumAttrs()+4)
	fields["SYSLOG_IDENTIFIER"] = Identifier
	if r.PC != 0 {
		f, _ := runtime.CallersFrames([]uintptr{r.PC}).Next()
		fields["CODE_FILE"] = f.File
		fields["CODE_LINE"] = strconv.Itoa(f.Line)
		fields["CODE_FUNC"] = f.Function
	}
	for _, f := range h.fields {
		fields[f.name] = f.value
	}
	var rec []field
	r.Attrs(func(a slog.Attr) bool {
		rec = appendAttr(rec, h.prefix, a)
		return true
	})
	for _, f := range rec {
		fields[f.name] = f.value
	}
	return h.send(r.Message, journalPriority(r.Level), fields)
}

// journalPriority maps slog levels onto syslog priorities; levels between
// the named ones go to the lower (less severe) of the two.
func journalPriority(l slog.Level) journal.Priority {
	switch {
	case l >= slog.LevelError:
		return journal.PriErr
	case l >= slog.LevelWarn:
		return journal.PriWarning
	case l >= slog.LevelInfo:
		return journal.PriInfo
	default:
		return journal.PriDebug
	}
}

// appendAttr flattens a into fields, following slog's rules: values are
// resolved (so secret.String prints as its LogValue), empty attributes and
// empty groups are dropped, a group with an empty key is inlined.
func appendAttr(fields []field, prefix string, a slog.Attr) []field {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return fields
	}
	if a.Value.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p = prefix + a.Key + "_"
		}
		for _, g := range a.Value.Group() {
			fields = appendAttr(fields, p, g)
		}
		return fields
	}
	return append(fields, field{name: fieldName(prefix + a.Key), value: valueString(a.Value)})
}

func valueString(v slog.Value) string {
	if v.Kind() == slog.KindTime {
		return v.Time().Format(time.RFC3339Nano)
	}
	return v.String()
}

// fieldName turns an attribute key into a valid journald field name:
// camelCase split into words, letters upper-cased, anything outside
// A-Z0-9_ made "_", runs of "_" joined, no leading "_" (reserved for
// journald's trusted fields) or digit, at most 64 bytes, and never one of the fields this handler sets
// itself; such keys get a "FIELD_" prefix.
func fieldName(key string) string {
	rs := []rune(key)
	b := make([]byte, 0, len(key)+4)
	for i, r := range rs {
		switch {
		case r >= 'A' && r <= 'Z':
			// A word boundary: "saleID" -> SALE_ID, "HTTPStatus" -> HTTP_STATUS.
			if i > 0 && (isLower(rs[i-1]) || isDigit(rs[i-1]) ||
				(isUpper(rs[i-1]) && i+1 < len(rs) && isLower(rs[i+1]))) {
				b = append(b, '_')
			}
			b = append(b, byte(r))
		case isLower(r):
			b = append(b, byte(r-'a'+'A'))
		case isDigit(r) || r == '_':
			b = append(b, byte(r))
		default:
			b = append(b, '_')
		}
	}
	name := collapseUnderscores(b)
	if name == "" || isDigit(rune(name[0])) || reservedField(name) {
		name = "FIELD_" + name
		if name == "FIELD_" {
			name = "FIELD"
		}
	}
	if len(name) > maxFieldName {
		name = name[:maxFieldName]
	}
	return name
}

// collapseUnderscores joins runs of "_" into one and trims them from both
// ends ("_private" -> PRIVATE, "a..b" -> A_B).
func collapseUnderscores(b []byte) string {
	out := b[:0]
	for _, c := range b {
		if c == '_' && (len(out) == 0 || out[len(out)-1] == '_') {
			continue
		}
		out = append(out, c)
	}
	for len(out) > 0 && out[len(out)-1] == '_' {
		out = out[:len(out)-1]
	}
	return string(out)
}

func reservedField(name string) bool {
	switch name {
	case "MESSAGE", "PRIORITY", "SYSLOG_IDENTIFIER", "CODE_FILE", "CODE_LINE", "CODE_FUNC":
		return true
	}
	return false
}

func isUpper(r rune) bool { return r >= 'A' && r <= 'Z' }
func isLower(r rune) bool { return r >= 'a' && r <= 'z' }
func isDigit(r rune) bool { return r >= '0' && r <= '9' }
