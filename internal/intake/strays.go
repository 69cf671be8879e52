package intake

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/posagent/posagent/internal/subject"
)

// Stray is a command for a POS this agent does not serve.
type Stray struct {
	POS     string // the subject's POS token, as the sender wrote it
	Verb    string // the subject's tokens after "cmd."
	Seq     uint64 // stream sequence
	Payload []byte
}

// Strays answers and removes the commands on the store's subjects for POS
// that this agent does not serve (docs/degraded.md, "Unknown POS"): each is
// handed to Answer (which tells the sender) and then deleted from the
// command stream, so that a typo in a subject is heard of and such
// commands cannot fill the store. Only for a bus the agent owns (the
// embedded server) or when configured to.
type Strays struct {
	JS      jetstream.JetStream
	NC      *nats.Conn
	Streams Streams
	Store   string
	Served  map[string]bool
	// Answer tells the sender; an error leaves the command for the next
	// sweep.
	Answer func(ctx context.Context, s Stray) error
	Log    *slog.Logger
	// Every is the sweep interval (default 2s); a live command for an
	// unknown POS starts a sweep at once.
	Every time.Duration
}

// Run sweeps until ctx ends.
func (s *Strays) Run(ctx context.Context) error {
	every := s.Every
	if every <= 0 {
		every = 2 * time.Second
	}
	nudge := make(chan struct{}, 1)
	sub, err := s.NC.Subscribe(s.Streams.CommandFilter(s.Store, subject.Any), func(m *nats.Msg) {
		if !s.Served[s.posToken(m.Subject)] {
			select {
			case nudge <- struct{}{}:
			default:
			}
		}
	})
	if err != nil {
		return err
	}
	defer func() { _ = sub.Unsubscribe() }()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := s.sweep(ctx); err != nil && ctx.Err() == nil {
			s.Log.Debug("unknown POS sweep", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-nudge:
			// The nudge comes before the stream has stored the command:
			// the ticker's next sweep catches what this one misses.
		}
	}
}

// posToken is the POS of a command subject, "" if it is none.
func (s *Strays) posToken(subj string) string {
	p, _ := subject.Parse(s.Streams.Prefix, subj)
	return p.POS
}

func (s *Strays) sweep(ctx context.Context) error {
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := s.JS.Stream(sctx, s.Streams.Commands)
	if err != nil {
		return err
	}
	info, err := st.Info(sctx, jetstream.WithSubjectFilter(s.Streams.CommandFilter(s.Store, subject.Any)))
	if err != nil {
		return err
	}
	for subj := range info.State.Subjects {
		pos := s.posToken(subj)
		if s.Served[pos] {
			continue
		}
		if err := s.drain(sctx, st, subj, pos); err != nil {
			return err
		}
	}
	return nil
}

// drain answers and deletes every command stored on subject, oldest first.
func (s *Strays) drain(ctx context.Context, st jetstream.Stream, subj, pos string) error {
	for {
		m, err := st.GetMsg(ctx, 1, jetstream.WithGetMsgSubject(subj))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		cmd, _ := subject.Parse(s.Streams.Prefix, m.Subject)
		stray := Stray{POS: pos, Verb: cmd.Name, Seq: m.Sequence, Payload: m.Data}
		if err := s.Answer(ctx, stray); err != nil {
			return err
		}
		if err := st.DeleteMsg(ctx, m.Sequence); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
			return err
		}
	}
}
