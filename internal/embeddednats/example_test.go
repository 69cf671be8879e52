package embeddednats_test

import (
	"fmt"
	"log"
	"os"

	"github.com/posagent/posagent/internal/embeddednats"
)

func ExampleStart() {
	dir, err := os.MkdirTemp("", "posagent-nats-*")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	s, err := embeddednats.Start(embeddednats.Options{
		Listen:    "127.0.0.1:-1", // a random port; a store uses 127.0.0.1:4222
		StoreDir:  dir,
		MaxMemory: 32 << 20,
		MaxStore:  256 << 20,
		Sync:      embeddednats.SyncAlways,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Shutdown()

	nc, err := s.Connect()
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	fmt.Println("connected:", nc.IsConnected(), "jetstream:", s.NATS().JetStreamEnabled())
	// Output: connected: true jetstream: true
}
