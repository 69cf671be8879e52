package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// mounted mounts a fresh powercutfs for the test; the tests need FUSE
// (/dev/fuse and the right to mount).
func mounted(t *testing.T) (*machine, string) {
	return mountedMode(t, false)
}

func mountedMode(t *testing.T, journal bool) (*machine, string) {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		t.Skipf("no FUSE here: %v", err)
	}
	dir := t.TempDir()
	mnt := filepath.Join(dir, "mnt")
	m, err := newMachine(filepath.Join(dir, "backing"), filepath.Join(dir, "shadow"), mnt, journal)
	if err != nil {
		if os.Getuid() != 0 {
			t.Skipf("cannot mount FUSE as a normal user here: %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.unmount(); err != nil {
			t.Error(err)
		}
	})
	return m, mnt
}

func write(t *testing.T, path, data string, flag int) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|flag, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
	return f
}

func syncDir(t *testing.T, dir string) {
	t.Helper()
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		t.Fatalf("fsync %s: %v", dir, err)
	}
}

func cut(t *testing.T, m *machine) {
	t.Helper()
	if err := m.cut(); err != nil {
		t.Fatal(err)
	}
}

// want checks a file's contents after a cut; "" with absent means it must
// not exist.
func want(t *testing.T, path, contents string, exists bool) {
	t.Helper()
	b, err := os.ReadFile(path)
	switch {
	case !exists && errors.Is(err, os.ErrNotExist):
	case !exists:
		t.Errorf("%s: survived the cut (%q, %v), want gone", filepath.Base(path), b, err)
	case err != nil:
		t.Errorf("%s: %v, want %q", filepath.Base(path), err, contents)
	case string(b) != contents:
		t.Errorf("%s: %q after the cut, want %q", filepath.Base(path), clip(string(b)), clip(contents))
	}
}

func TestCutKeepsOnlyWhatWasSynced(t *testing.T) {
	m, mnt := mounted(t)
	p := filepath.Join(mnt, "a")
	f := write(t, p, "durable", 0)
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	syncDir(t, mnt)
	if _, err := f.WriteString(" and not"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	want(t, p, "durable and not", true) // the page cache has it all
	cut(t, m)
	want(t, p, "durable", true)
}

func TestCutDirectoryEntries(t *testing.T) {
	m, mnt := mounted(t)
	// Entry synced, contents never: there, empty.
	write(t, filepath.Join(mnt, "entry-only"), "y", 0).Close()
	syncDir(t, mnt)
	// Created after the directory's sync, synced itself: gone.
	g := write(t, filepath.Join(mnt, "late"), "z", 0)
	if err := g.Sync(); err != nil {
		t.Fatal(err)
	}
	g.Close()
	// A new directory whose parent was never synced again: gone with its files.
	sub := filepath.Join(mnt, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	h := write(t, filepath.Join(sub, "in-sub"), "w", 0)
	if err := h.Sync(); err != nil {
		t.Fatal(err)
	}
	h.Close()
	syncDir(t, sub)
	cut(t, m)
	want(t, filepath.Join(mnt, "entry-only"), "", true)
	want(t, filepath.Join(mnt, "late"), "", false)
	if _, err := os.Stat(sub); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("sub: %v after the cut, want gone (its parent was not synced after mkdir)", err)
	}
}

func TestCutRenameAndUnlink(t *testing.T) {
	m, mnt := mounted(t)
	for _, name := range []string{"old", "doomed", "tmp"} {
		f := write(t, filepath.Join(mnt, name), name+"-v1", 0)
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	syncDir(t, mnt)
	// Rename and unlink without syncing the directory: undone by the cut.
	if err := os.Rename(filepath.Join(mnt, "old"), filepath.Join(mnt, "new")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(mnt, "doomed")); err != nil {
		t.Fatal(err)
	}
	cut(t, m)
	want(t, filepath.Join(mnt, "old"), "old-v1", true)
	want(t, filepath.Join(mnt, "new"), "", false)
	want(t, filepath.Join(mnt, "doomed"), "doomed-v1", true)

	// The write-to-temp, fsync, rename, fsync-dir pattern: durable.
	f := write(t, filepath.Join(mnt, "tmp2"), "old-v2", 0)
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Rename(filepath.Join(mnt, "tmp2"), filepath.Join(mnt, "old")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(mnt, "doomed")); err != nil {
		t.Fatal(err)
	}
	syncDir(t, mnt)
	cut(t, m)
	want(t, filepath.Join(mnt, "old"), "old-v2", true)
	want(t, filepath.Join(mnt, "tmp2"), "", false)
	want(t, filepath.Join(mnt, "doomed"), "", false)
}

func TestCutFdatasyncAndOSync(t *testing.T) {
	m, mnt := mounted(t)
	f := write(t, filepath.Join(mnt, "datasync"), "one", 0)
	if err := unix.Fdatasync(int(f.Fd())); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for _, fl := range []struct {
		name string
		flag int
	}{{"osync", os.O_SYNC}, {"odsync", syscall.O_DSYNC}} {
		g := write(t, filepath.Join(mnt, fl.name), "every write", fl.flag)
		if _, err := g.WriteString(" counts"); err != nil {
			t.Fatal(err)
		}
		g.Close()
	}
	syncDir(t, mnt)
	before := m.d.snapshot()
	cut(t, m)
	want(t, filepath.Join(mnt, "datasync"), "one", true)
	want(t, filepath.Join(mnt, "osync"), "every write counts", true)
	want(t, filepath.Join(mnt, "odsync"), "every write counts", true)
	if before.Fsyncs < 1 || before.SyncWrites < 4 || before.DirFsyncs < 1 {
		t.Errorf("stats %+v: want >= 1 fsync, >= 4 sync writes, >= 1 dir fsync", before)
	}
}

func TestCutTruncateAndOverwrite(t *testing.T) {
	m, mnt := mounted(t)
	p := filepath.Join(mnt, "blk")
	f := write(t, p, strings.Repeat("a", 100000), 0)
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	syncDir(t, mnt)
	// Shrink, overwrite the middle and grow again, none of it synced.
	if err := f.Truncate(10); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("bbbb"), 50000); err != nil {
		t.Fatal(err)
	}
	f.Close()
	cut(t, m)
	want(t, p, strings.Repeat("a", 100000), true)

	// Synced this time: the zeroed gap and the overwrite are the contents.
	f = write(t, p, "", 0)
	if err := f.Truncate(10); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("bbbb"), 20); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	cut(t, m)
	wantB := append(append([]byte(strings.Repeat("a", 10)), make([]byte, 10)...), "bbbb"...)
	if b, _ := os.ReadFile(p); !bytes.Equal(b, wantB) {
		t.Errorf("after a synced truncate and overwrite: %q, want %q", b, wantB)
	}
	// O_TRUNC without a sync is undone.
	write(t, p, "new", os.O_TRUNC).Close()
	cut(t, m)
	if b, _ := os.ReadFile(p); !bytes.Equal(b, wantB) {
		t.Errorf("after an unsynced O_TRUNC: %q, want %q", b, wantB)
	}
	if s := m.d.snapshot(); s.Cuts != 3 || s.LostBytes == 0 {
		t.Errorf("stats %+v: want 3 cuts and lost bytes counted", s)
	}
}

func TestControlCommands(t *testing.T) {
	m, _ := mounted(t)
	if got := m.command("stats"); !strings.HasPrefix(got, `{"fsyncs":`) {
		t.Errorf("stats: %q", got)
	}
	if got := m.command("cut"); got != "ok" {
		t.Errorf("cut: %q", got)
	}
	if got := m.command("reboot"); !strings.Contains(got, `unknown command "reboot"`) {
		t.Errorf("unknown command: %q", got)
	}
}

func clip(s string) string {
	if len(s) > 40 {
		return fmt.Sprintf("%s...(%d bytes)", s[:40], len(s))
	}
	return s
}

func TestCutJournalModeCommitsEntriesOnAnyFsync(t *testing.T) {
	m, mnt := mountedMode(t, true)
	sub := filepath.Join(mnt, "streams", "T")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	f := write(t, filepath.Join(sub, "1.blk"), "msg", 0)
	if err := f.Sync(); err != nil { // commits the mkdirs and the create too
		t.Fatal(err)
	}
	f.Close()
	write(t, filepath.Join(mnt, "after"), "never synced", 0).Close()
	cut(t, m)
	want(t, filepath.Join(sub, "1.blk"), "msg", true)
	want(t, filepath.Join(mnt, "after"), "", false)
}
