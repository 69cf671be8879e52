// Package salestore provides durable JSON records in a JetStream key-value
// bucket: the sale_id -> order mapping and each POS's open work, which must
// survive an agent restart, a NATS restart and a power cut (the embedded
// server syncs every write).
package salestore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Store reads and writes JSON values by key.
type Store struct {
	js jetstream.JetStream
	kv jetstream.KeyValue
}

// Options configure the bucket.
type Options struct {
	Bucket   string        // e.g. "posagent_S001"
	TTL      time.Duration // records not written for this long are forgotten (sale_retention)
	MaxBytes int64         // bound on the bucket's size; 0 = 64 MiB
	Replicas int           // 1 on a single box
}

// Open creates the bucket if missing (an existing one is used as it is)
// and returns a store on it.
func Open(ctx context.Context, js jetstream.JetStream, o Options) (*Store, error) {
	if o.MaxBytes == 0 {
		o.MaxBytes = 64 << 20
	}
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	kv, err := js.KeyValue(ctx, o.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:      o.Bucket,
			Description: "posagent sale records (sale_id -> order, open orders per POS)",
			History:     history,
			TTL:         o.TTL,
			MaxBytes:    o.MaxBytes,
			Storage:     jetstream.FileStorage,
			Replicas:    o.Replicas,
		})
	}
	if err != nil {
		return nil, fmt.Errorf("salestore: bucket %s: %w", o.Bucket, err)
	}
	return &Store{js: js, kv: kv}, nil
}

// Get decodes the value at key into v and reports whether it exists.
func (s *Store) Get(ctx context.Context, key string, v any) (bool, error) {
	e, err := s.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("salestore: get %s: %w", key, err)
	}
	if err := json.Unmarshal(e.Value(), v); err != nil {
		return false, fmt.Errorf("salestore: decode %s: %w", key, err)
	}
	return true, nil
}

// Put stores v at key; it returns once the server has it.
func (s *Store) Put(ctx context.Context, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("salestore: encode %s: %w", key, err)
	}
	if _, err := s.kv.Put(ctx, key, b); err != nil {
		return fmt.Errorf("salestore: put %s: %w", key, err)
	}
	return nil
}

// Delete forgets key. Deleting a missing key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := s.kv.Delete(ctx, key); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("salestore: delete %s: %w", key, err)
	}
	return nil
}

// probeKey is written and deleted by Probe; sessions never use it.
const probeKey = "_probe.write"

// Probe writes a record, reads it back and deletes it: a bucket whose
// files are damaged can still be read and listed while every write
// fails (nats-server refuses to append to a message block with a bad
// checksum), or take writes it cannot find again (a block whose head is
// zeroed), which a reader alone never notices.
func (s *Store) Probe(ctx context.Context) error {
	want := []byte(fmt.Sprintf(`{"probe":%d}`, time.Now().UnixNano()))
	if _, err := s.kv.Put(ctx, probeKey, want); err != nil {
		return fmt.Errorf("salestore: write probe: %w", err)
	}
	e, err := s.kv.Get(ctx, probeKey)
	if err != nil {
		return fmt.Errorf("salestore: read probe back: %w", err)
	}
	if string(e.Value()) != string(want) {
		return fmt.Errorf("salestore: read probe back: got %q, wrote %q", e.Value(), want)
	}
	if err := s.kv.Purge(ctx, probeKey); err != nil {
		return fmt.Errorf("salestore: delete probe: %w", err)
	}
	return nil
}

// history is how many revisions of a record the bucket keeps.
const history = 1

// Dump returns every record it can still read, by key, and how many keys
// it could not read.
func (s *Store) Dump(ctx context.Context) (map[string][]byte, int, error) {
	info, err := s.index(ctx)
	if err != nil {
		return nil, 0, err
	}
	out := map[string][]byte{}
	unread := s.walk(ctx, info, func(k string, v []byte) {
		if k != probeKey {
			out[k] = v
		}
	})
	return out, unread, nil
}

// Check tells whether the bucket can be written to safely: the stream's
// index of its subjects agrees with the messages it holds, no key has
// more revisions than the bucket keeps, and every key it lists can be
// read, the probe's included. nats-server can spin forever, the stream
// locked, on a write over a key its index counts but cannot find (a
// damaged block read again at start): the revision the write replaces
// is never found to be removed. A store that fails the check must not be
// written to; it is salvaged (Dump) and made again.
func (s *Store) Check(ctx context.Context) error {
	info, err := s.index(ctx)
	if err != nil {
		return err
	}
	var indexed uint64
	for _, revisions := range info.State.Subjects {
		indexed += revisions
		if revisions > history {
			return fmt.Errorf("salestore: the stream's index counts %d revisions of a record, the bucket keeps %d", revisions, history)
		}
	}
	if indexed != info.State.Msgs {
		return fmt.Errorf("salestore: the stream's index counts %d records, the stream holds %d", indexed, info.State.Msgs)
	}
	if unread := s.walk(ctx, info, func(string, []byte) {}); unread > 0 {
		return fmt.Errorf("salestore: %d records listed in the bucket cannot be read", unread)
	}
	return nil
}

// index reads the stream's state with its index of the bucket's subjects.
func (s *Store) index(ctx context.Context) (*jetstream.StreamInfo, error) {
	st, err := s.js.Stream(ctx, "KV_"+s.kv.Bucket())
	if err != nil {
		return nil, fmt.Errorf("salestore: list: %w", err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter("$KV."+s.kv.Bucket()+".>"))
	if err != nil {
		return nil, fmt.Errorf("salestore: list: %w", err)
	}
	return info, nil
}

// walk calls fn with every key info's index of the bucket's subjects
// lists and the value it holds (deleted keys are skipped) and returns how
// many keys it could not read. The keys come from the stream's own index:
// listing them through a consumer (ListKeys) waits until its deadline
// when the bucket's block is damaged.
func (s *Store) walk(ctx context.Context, info *jetstream.StreamInfo, fn func(key string, value []byte)) int {
	prefix := "$KV." + s.kv.Bucket() + "."
	unread := 0
	for subj := range info.State.Subjects {
		k := strings.TrimPrefix(subj, prefix)
		e, err := s.kv.Get(ctx, k)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted):
		case err != nil:
			unread++
		default:
			fn(k, e.Value())
		}
	}
	return unread
}

// PutRaw stores an encoded record as it is (a salvaged one).
func (s *Store) PutRaw(ctx context.Context, key string, b []byte) error {
	if _, err := s.kv.Put(ctx, key, b); err != nil {
		return fmt.Errorf("salestore: put %s: %w", key, err)
	}
	return nil
}

// Bucket is the bucket's name.
func (s *Store) Bucket() string { return s.kv.Bucket() }

// Drop deletes the bucket with everything in it (the records were
// salvaged first); Open makes a new one.
func Drop(ctx context.Context, js jetstream.JetStream, bucket string) error {
	if err := js.DeleteKeyValue(ctx, bucket); err != nil && !errors.Is(err, jetstream.ErrBucketNotFound) {
		return fmt.Errorf("salestore: delete bucket %s: %w", bucket, err)
	}
	return nil
}
