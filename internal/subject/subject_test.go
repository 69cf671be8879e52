package subject

import (
	"testing"
	"time"
)

func TestBuild(t *testing.T) {
	at := time.UnixMilli(1767322925123)
	for _, c := range []struct{ got, want string }{
		{Command("pos", "S001", "POS1", "sale"), "pos.S001.POS1.cmd.sale"},
		{Event("pos", "S001", "POS1", "processed"), "pos.S001.POS1.evt.processed"},
		{Status("pos", "S001", "POS1"), "pos.S001.POS1.status"},
		{Commands("pos", "S001", "POS1"), "pos.S001.POS1.cmd.>"},
		{Commands("pos", "S001", Any), "pos.S001.*.cmd.>"},
		{Commands("pos", Any, Any), "pos.*.*.cmd.>"},
		{Events("a.b", "S001", Any), "a.b.S001.*.evt.>"},
		{Status("a.b", Any, Any), "a.b.*.*.status"},
		{Consumer("S001", "POS1"), "posagent_S001_POS1"},
		{SaleMsgID("S001", "POS1", "V1", "created"), "S001.POS1.V1.created"},
		{RefundMsgID("S001", "POS1", "V1", "total"), "S001.POS1.V1.refunded.total"},
		{CommandMsgID("S001", "POS1", 42, "rejected"), "S001.POS1.cmd.42.rejected"},
		{PrinterMsgID("S001", "POS1", at), "S001.POS1.printer.1767322925123"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

func TestParse(t *testing.T) {
	for _, c := range []struct {
		prefix, subject string
		want            Parsed
		ok              bool
	}{
		{"pos", "pos.S001.POS1.cmd.sale", Parsed{Store: "S001", POS: "POS1", Kind: KindCommand, Name: "sale"}, true},
		{"pos", "pos.S001.POS1.evt.refunded", Parsed{Store: "S001", POS: "POS1", Kind: KindEvent, Name: "refunded"}, true},
		{"pos", "pos.S001.POS1.status", Parsed{Store: "S001", POS: "POS1", Kind: KindStatus}, true},
		{"a.b", "a.b.S001.POS1.cmd.cancel", Parsed{Store: "S001", POS: "POS1", Kind: KindCommand, Name: "cancel"}, true},
		{"a.b", "a.b.S001.POS1.status", Parsed{Store: "S001", POS: "POS1", Kind: KindStatus}, true},
		{"a", "a.b.S001.POS1.cmd.cancel", Parsed{}, false}, // b.S001.POS1 is no POS
		{"a.b", "a.S001.POS1.cmd.sale", Parsed{}, false},
		{"pos", "pos.S001.POS1.cmd", Parsed{}, false},
		{"pos", "pos.S001.POS1.cmd.", Parsed{}, false},
		{"pos", "pos.S001.POS1.status.x", Parsed{}, false},
		{"pos", "pos.S001.POS1.other.x", Parsed{}, false},
		{"pos", "pos..POS1.cmd.sale", Parsed{}, false},
		{"pos", "posx.S001.POS1.cmd.sale", Parsed{}, false},
		{"pos", "", Parsed{}, false},
	} {
		t.Run(c.subject, func(t *testing.T) {
			got, ok := Parse(c.prefix, c.subject)
			if got != c.want || ok != c.ok {
				t.Errorf("Parse(%q, %q) = %+v, %v; want %+v, %v", c.prefix, c.subject, got, ok, c.want, c.ok)
			}
		})
	}
}

// TestParseBuilt: what the builders make, Parse takes apart again.
func TestParseBuilt(t *testing.T) {
	for _, prefix := range []string{"pos", "a.b"} {
		for _, s := range []string{Command(prefix, "S", "P", "refund"), Event(prefix, "S", "P", "created"), Status(prefix, "S", "P")} {
			p, ok := Parse(prefix, s)
			if !ok || p.Store != "S" || p.POS != "P" {
				t.Errorf("Parse(%q, %q) = %+v, %v", prefix, s, p, ok)
			}
		}
	}
}

func TestCommandSeq(t *testing.T) {
	for _, c := range []struct {
		id   string
		want uint64
	}{
		{CommandMsgID("S001", "POS1", 42, "failed"), 42},
		{SaleMsgID("S001", "POS1", "V1", "created"), 0},
		{"S001.POS1.cmd.x.rejected", 0},
		{"S001.POS1.cmd.7", 0},
		{"", 0},
	} {
		if got := CommandSeq(c.id); got != c.want {
			t.Errorf("CommandSeq(%q) = %d, want %d", c.id, got, c.want)
		}
	}
}
