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
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Store reads and writes JSON values by key.
type Store struct {
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
			History:     1,
			TTL:         o.TTL,
			MaxBytes:    o.MaxBytes,
			Storage:     jetstream.FileStorage,
			Replicas:    o.Replicas,
		})
	}
	if err != nil {
		return nil, fmt.Errorf("salestore: bucket %s: %w", o.Bucket, err)
	}
	return &Store{kv: kv}, nil
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
