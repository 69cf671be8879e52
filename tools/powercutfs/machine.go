package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// machine is the mounted disk model: it mounts, and cuts the power.
type machine struct {
	d   *disk
	mnt string

	mu  sync.Mutex
	srv *fuse.Server
}

func newMachine(backing, shadow, mnt string, journal bool) (*machine, error) {
	for _, dir := range []string{backing, mnt} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
	}
	d, err := newDisk(backing, shadow, journal)
	if err != nil {
		return nil, err
	}
	m := &machine{d: d, mnt: mnt}
	if err := m.mount(); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *machine) mount() error {
	root, err := newRoot(m.d)
	if err != nil {
		return err
	}
	srv, err := fs.Mount(m.mnt, root, &fs.Options{MountOptions: fuse.MountOptions{
		FsName: "powercutfs", Name: "powercutfs", DirectMount: true,
	}})
	if err != nil {
		return fmt.Errorf("mount %s: %w", m.mnt, err)
	}
	m.mu.Lock()
	m.srv = srv
	m.mu.Unlock()
	return nil
}

// unmount waits (at most 10 s) for the files still open to be released.
func (m *machine) unmount() error {
	m.mu.Lock()
	srv := m.srv
	m.srv = nil
	m.mu.Unlock()
	if srv == nil {
		return nil
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := srv.Unmount()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			m.mu.Lock()
			m.srv = srv
			m.mu.Unlock()
			return fmt.Errorf("unmount %s (still in use?): %w", m.mnt, err)
		}
		time.Sleep(50 * time.Millisecond) // the kernel gives no event for "last file released"
	}
}

// cut is the power cut and the reboot after it. Each step's time goes to
// the log: a cut that hangs says where.
func (m *machine) cut() error {
	t0 := time.Now()
	if err := m.unmount(); err != nil {
		return err
	}
	t1 := time.Now()
	if err := m.d.cut(); err != nil {
		return fmt.Errorf("cut: %w", err)
	}
	t2 := time.Now()
	err := m.mount()
	log.Printf("cut: unmount %s, drop unsynced %s, mount %s (err %v)", t1.Sub(t0), t2.Sub(t1), time.Since(t2), err)
	return err
}

// serveControl answers commands on a unix socket until ctx ends.
func serveControl(ctx context.Context, path string, m *machine) error {
	_ = os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return err
	}
	go func() { <-ctx.Done(); ln.Close() }()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		go serveConn(c, m)
	}
}

func serveConn(c net.Conn, m *machine) {
	defer c.Close()
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		fmt.Fprintln(c, m.command(strings.TrimSpace(sc.Text())))
	}
}

func (m *machine) command(cmd string) string {
	switch cmd {
	case "cut":
		if err := m.cut(); err != nil {
			return "error: " + err.Error()
		}
		return "ok"
	case "stats":
		b, _ := json.Marshal(m.d.snapshot())
		return string(b)
	}
	return "error: " + errors.New("unknown command "+fmt.Sprintf("%q", cmd)+" (cut, stats)").Error()
}
