// Package subject builds and parses the names posagent puts on the wire
// (docs/protocol.md, "Subjects" and "Message ids"): the subjects
// <prefix>.<store>.<pos>.cmd.<verb>, .evt.<status> and .status, their
// wildcard filters, the durable consumer of each POS, and the Nats-Msg-Id
// of each kind of event. Nothing else concatenates them.
package subject

import (
	"strconv"
	"strings"
	"time"
)

// The kinds of a POS's subjects: the token after <prefix>.<store>.<pos>.
const (
	KindCommand = "cmd"
	KindEvent   = "evt"
	KindStatus  = "status"
)

// Any is the wildcard for one token: a store or POS in a filter.
const Any = "*"

func join(tokens ...string) string { return strings.Join(tokens, ".") }

// Command is where a command verb for pos is sent.
func Command(prefix, store, pos, verb string) string {
	return join(prefix, store, pos, KindCommand, verb)
}

// Event is where an event about pos is published.
func Event(prefix, store, pos, status string) string {
	return join(prefix, store, pos, KindEvent, status)
}

// Status is where pos's status query is answered.
func Status(prefix, store, pos string) string { return join(prefix, store, pos, KindStatus) }

// Commands is the filter of pos's commands; Any as store or pos widens it.
func Commands(prefix, store, pos string) string { return Command(prefix, store, pos, ">") }

// Events is the filter of pos's events; Any as store or pos widens it.
func Events(prefix, store, pos string) string { return Event(prefix, store, pos, ">") }

// Parsed is a POS subject taken apart.
type Parsed struct {
	Store, POS string
	Kind       string // KindCommand, KindEvent or KindStatus
	Name       string // the command's verb or the event's status; "" for KindStatus
}

// Parse takes apart a subject under prefix (which may have several
// tokens). It reports false for anything that is not one of a POS's
// subjects.
func Parse(prefix, subject string) (Parsed, bool) {
	rest, ok := strings.CutPrefix(subject, prefix+".")
	if !ok {
		return Parsed{}, false
	}
	t := strings.SplitN(rest, ".", 4)
	if len(t) < 3 || t[0] == "" || t[1] == "" {
		return Parsed{}, false
	}
	p := Parsed{Store: t[0], POS: t[1], Kind: t[2]}
	switch {
	case p.Kind == KindStatus && len(t) == 3:
		return p, true
	case (p.Kind == KindCommand || p.Kind == KindEvent) && len(t) == 4 && t[3] != "":
		p.Name = t[3]
		return p, true
	}
	return Parsed{}, false
}

// Consumer is the durable consumer that reads pos's commands.
func Consumer(store, pos string) string { return "posagent_" + store + "_" + pos }

// SaleMsgID is the id of a sale's created/processed/expired/canceled event.
func SaleMsgID(store, pos, saleID, status string) string {
	return join(store, pos, saleID, status)
}

// RefundMsgID is the id of a refunded event.
func RefundMsgID(store, pos, saleID, refundID string) string {
	return join(store, pos, saleID, "refunded", refundID)
}

// CommandMsgID is the id of a rejected or failed event: one per command,
// named by the command's stream sequence.
func CommandMsgID(store, pos string, seq uint64, status string) string {
	return join(store, pos, KindCommand, strconv.FormatUint(seq, 10), status)
}

// PrinterMsgID is the id of a printer event.
func PrinterMsgID(store, pos string, at time.Time) string {
	return join(store, pos, "printer", strconv.FormatInt(at.UnixMilli(), 10))
}

// CommandSeq returns the stream sequence of the command a rejected or
// failed event answers, from its message id (CommandMsgID), or 0.
func CommandSeq(msgID string) uint64 {
	i := strings.Index(msgID, "."+KindCommand+".")
	if i < 0 {
		return 0
	}
	rest := msgID[i+len(KindCommand)+2:]
	seq, err := strconv.ParseUint(rest[:max(strings.IndexByte(rest, '.'), 0)], 10, 64)
	if err != nil {
		return 0
	}
	return seq
}
