package secret

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestNeverPrinted(t *testing.T) {
	const v = "APP_USR-1234567890-secret"
	s := New(v)
	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
		out = append(out, fmt.Sprintf(verb, s))
		out = append(out, fmt.Sprintf(verb, struct{ Token String }{s}))
	}
	b, _ := json.Marshal(struct{ Token String }{s})
	out = append(out, string(b))
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "token", s)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "token", s)
	out = append(out, buf.String(), fmt.Sprint(s), fmt.Errorf("wrap: %v", s).Error())
	for _, o := range out {
		if strings.Contains(o, v) || strings.Contains(o, fmt.Sprintf("%x", v)) {
			t.Errorf("secret leaked: %s", o)
		}
	}
	if s.Reveal() != v || s.Empty() || !New("").Empty() {
		t.Fatal("Reveal/Empty wrong")
	}
}
