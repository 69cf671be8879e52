// Command powercutfs mounts a directory through FUSE with the durability
// of a disk that loses its power: every write reaches the directory at
// once (as the page cache would hold it), but only what was made durable
// survives a `cut` — a file's contents and size as of its last fsync,
// fdatasync or O_SYNC/O_DSYNC write, and a directory's entries (files
// created, renamed or removed) as of its last fsync. That is the LazyFS
// model used by Jepsen, written for posagent's power-cut soak and kept
// out of the product.
//
//	powercutfs -backing DIR -mount MNT -control SOCK [-mode strict|journal]
//
// -mode strict (the default) keeps directory entries only as of their
// directory's last fsync, as POSIX promises; -mode journal commits every
// directory entry on any fsync, as ext4 (data=ordered, the Raspberry Pi
// OS default) does when its journal commits.
//
// The control socket takes one command per line and answers one line:
//
//	cut    unmount, throw away everything not durable, mount again -> "ok"
//	stats  the counters as JSON (fsyncs, dir_fsyncs, sync_writes, writes, cuts, lost_bytes, lost_entries)
//
// Whoever cuts must first stop every process using the mount (as a power
// cut would): unmounting waits for their files to close.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "powercutfs:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stderr io.Writer) error {
	fl := flag.NewFlagSet("powercutfs", flag.ContinueOnError)
	fl.SetOutput(stderr)
	backing := fl.String("backing", "", "the directory holding the files (required)")
	shadow := fl.String("shadow", "", "where synced contents are kept (default: BACKING.durable)")
	mnt := fl.String("mount", "", "the mount point (required)")
	control := fl.String("control", "", "the control socket (required)")
	mode := fl.String("mode", "strict", "strict: a directory's entries are durable only once it is fsynced (POSIX); journal: any fsync also commits every directory entry (ext4 data=ordered)")
	if err := fl.Parse(args); err != nil {
		return err
	}
	switch {
	case *backing == "":
		return fmt.Errorf("-backing: required")
	case *mnt == "":
		return fmt.Errorf("-mount: required")
	case *control == "":
		return fmt.Errorf("-control: required")
	case *mode != "strict" && *mode != "journal":
		return fmt.Errorf("-mode: must be strict or journal, got %q", *mode)
	}
	if *shadow == "" {
		*shadow = *backing + ".durable"
	}
	m, err := newMachine(*backing, *shadow, *mnt, *mode == "journal")
	if err != nil {
		return err
	}
	defer m.unmount()
	return serveControl(ctx, *control, m)
}
