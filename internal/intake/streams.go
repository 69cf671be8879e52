// Package intake provides the NATS side of the daemon: the JetStream
// streams that capture the register's commands and keep the agent's events,
// and one durable consumer per POS that hands each command to that POS's
// session and acknowledges it only once its outcome is recorded.
package intake

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/posagent/posagent/internal/subject"
)

// Streams names the two streams and what bounds them.
type Streams struct {
	Prefix         string // subject prefix, "pos"
	Commands       string // "POS_CMD"
	Events         string // "POS_EVT"
	EventsMaxBytes int64
	// CommandsMaxBytes bounds the command stream; 0 = no byte limit.
	CommandsMaxBytes int64
	Replicas         int // 1 on a single box
}

// CommandsPerSubject is how many commands may wait on one subject (one
// POS's verb): a POS nobody serves cannot fill the store, and a register
// publishing beyond it gets an error rather than a silent drop.
const CommandsPerSubject = 1000

// CommandSubjects is the command stream's subject filter.
func (s Streams) CommandSubjects() string {
	return subject.Commands(s.Prefix, subject.Any, subject.Any)
}

// EventSubjects is the event stream's subject filter.
func (s Streams) EventSubjects() string { return subject.Events(s.Prefix, subject.Any, subject.Any) }

// CommandFilter is the subject filter of one POS's commands.
func (s Streams) CommandFilter(store, pos string) string {
	return subject.Commands(s.Prefix, store, pos)
}

// EventFilter is the subject filter of one POS's events.
func (s Streams) EventFilter(store, pos string) string {
	return subject.Events(s.Prefix, store, pos)
}

// Ensure creates the streams when they are missing. An existing stream is
// never rewritten (several agents may share a server), but it must cover
// this agent's subjects: the error says which one does not.
func (s Streams) Ensure(ctx context.Context, js jetstream.JetStream, store string, posIDs []string) error {
	replicas := max(s.Replicas, 1)
	want := []struct {
		cfg    jetstream.StreamConfig
		filter func(store, pos string) string
	}{
		{jetstream.StreamConfig{
			Name:                 s.Commands,
			Description:          "posagent: commands from registers (work queue)",
			Subjects:             []string{s.CommandSubjects()},
			Retention:            jetstream.WorkQueuePolicy,
			MaxAge:               24 * time.Hour,
			MaxBytes:             s.CommandsMaxBytes,
			MaxMsgsPerSubject:    CommandsPerSubject,
			Discard:              jetstream.DiscardNew,
			DiscardNewPerSubject: true,
			Storage:              jetstream.FileStorage,
			Duplicates:           10 * time.Minute,
			Replicas:             replicas,
		}, s.CommandFilter},
		{jetstream.StreamConfig{
			Name:        s.Events,
			Description: "posagent: events to registers, kept for late readers",
			Subjects:    []string{s.EventSubjects()},
			Retention:   jetstream.LimitsPolicy,
			MaxAge:      7 * 24 * time.Hour,
			MaxBytes:    s.EventsMaxBytes,
			Storage:     jetstream.FileStorage,
			Duplicates:  24 * time.Hour,
			Discard:     jetstream.DiscardOld,
			Replicas:    replicas,
		}, s.EventFilter},
	}
	for _, w := range want {
		st, err := js.Stream(ctx, w.cfg.Name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			if _, err := js.CreateStream(ctx, w.cfg); err != nil {
				return fmt.Errorf("intake: create stream %s: %w", w.cfg.Name, err)
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("intake: stream %s: %w", w.cfg.Name, err)
		}
		have := st.CachedInfo().Config.Subjects
		for _, pos := range posIDs {
			need := w.filter(store, pos)
			if !coveredBy(need, have) {
				return fmt.Errorf("intake: existing stream %s (subjects %v) does not capture %s; it is not rewritten: add the subject to it or set nats.streams to another stream", w.cfg.Name, have, need)
			}
		}
	}
	return nil
}

func coveredBy(subject string, filters []string) bool {
	for _, f := range filters {
		if Covers(f, subject) {
			return true
		}
	}
	return false
}

// Covers reports whether every subject matching sub also matches filter
// (both may hold wildcards).
func Covers(filter, sub string) bool {
	ft, st := strings.Split(filter, "."), strings.Split(sub, ".")
	for i, f := range ft {
		if f == ">" {
			return i < len(st)
		}
		if i >= len(st) {
			return false
		}
		switch s := st[i]; {
		case s == ">":
			return false
		case f == "*":
		case s == "*" || f != s:
			return false
		}
	}
	return len(ft) == len(st)
}
