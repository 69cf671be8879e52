package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
)

// span is a byte range [off, end) of a file written since its last sync.
type span struct{ off, end int64 }

// fileRec is what the "disk" holds of one regular file: its synced
// contents live in the shadow directory under the record's id (absent:
// nothing synced, the file is empty after a cut), and dirty lists the
// ranges changed since.
type fileRec struct {
	dirty    []span
	hasData  bool
	everSync bool
}

// dirRec is what the "disk" holds of one directory: the entries as of
// its last fsync (name -> record id).
type dirRec struct {
	entries map[string]uint64
}

// Stats counts what the applications asked of the disk.
type Stats struct {
	Fsyncs      int64 `json:"fsyncs"`       // fsync/fdatasync of regular files
	DirFsyncs   int64 `json:"dir_fsyncs"`   // fsync of directories
	SyncWrites  int64 `json:"sync_writes"`  // writes through an O_SYNC/O_DSYNC handle
	Writes      int64 `json:"writes"`       // all writes
	Cuts        int64 `json:"cuts"`         // power cuts
	LostBytes   int64 `json:"lost_bytes"`   // bytes written (or resized) but never synced, dropped by cuts
	LostEntries int64 `json:"lost_entries"` // directory entries dropped by cuts (created or renamed, never made durable)
}

// disk is the model of a disk without a write cache that honours fsync:
// the backing directory is the page cache (what processes see), the
// records say what would survive a power cut.
type disk struct {
	backing string // the live tree served through FUSE
	shadow  string // synced file contents, one file per record id

	mu     sync.Mutex
	nextID uint64
	byIno  map[uint64]uint64 // backing inode -> record id
	files  map[uint64]*fileRec
	dirs   map[uint64]*dirRec
	rootID uint64
	stats  Stats
	// journal: every sync also commits every directory entry, like ext4
	// (data=ordered) whose fsync commits the journal; otherwise only a
	// directory's own fsync makes its entries durable (strict POSIX).
	journal bool
}

// newDisk takes the backing tree as it is as durable (it was written
// before the "machine" was switched on).
func newDisk(backing, shadow string, journal bool) (*disk, error) {
	d := &disk{backing: backing, shadow: shadow, journal: journal}
	if err := d.adopt(); err != nil {
		return nil, err
	}
	return d, nil
}

// adopt (re)builds the records from the backing tree, all of it durable.
func (d *disk) adopt() error {
	if err := os.RemoveAll(d.shadow); err != nil {
		return err
	}
	if err := os.MkdirAll(d.shadow, 0o700); err != nil {
		return err
	}
	d.byIno = map[uint64]uint64{}
	d.files = map[uint64]*fileRec{}
	d.dirs = map[uint64]*dirRec{}
	id, err := d.adoptPath(d.backing)
	d.rootID = id
	return err
}

func (d *disk) adoptPath(p string) (uint64, error) {
	var st syscall.Stat_t
	if err := syscall.Lstat(p, &st); err != nil {
		return 0, err
	}
	switch st.Mode & syscall.S_IFMT {
	case syscall.S_IFDIR:
		id := d.newDir(st.Ino)
		ents, err := os.ReadDir(p)
		if err != nil {
			return 0, err
		}
		for _, e := range ents {
			cid, err := d.adoptPath(filepath.Join(p, e.Name()))
			if err != nil {
				return 0, err
			}
			d.dirs[id].entries[e.Name()] = cid
		}
		return id, nil
	case syscall.S_IFREG:
		id := d.newFile(st.Ino)
		if err := copyFile(p, d.shadowPath(id)); err != nil {
			return 0, err
		}
		d.files[id].hasData, d.files[id].everSync = true, true
		return id, nil
	}
	return 0, fmt.Errorf("%s: only regular files and directories are supported", p)
}

func (d *disk) shadowPath(id uint64) string {
	return filepath.Join(d.shadow, strconv.FormatUint(id, 10))
}

// newFile and newDir give a backing inode a fresh record: a new file
// has no durable contents, a new directory no durable entries. A reused
// inode number gets a new record; the old one stays where durable
// directory entries still point at it.
func (d *disk) newFile(ino uint64) uint64 {
	d.nextID++
	d.byIno[ino] = d.nextID
	d.files[d.nextID] = &fileRec{}
	return d.nextID
}

func (d *disk) newDir(ino uint64) uint64 {
	d.nextID++
	d.byIno[ino] = d.nextID
	d.dirs[d.nextID] = &dirRec{entries: map[string]uint64{}}
	return d.nextID
}

// created records a file or directory just made in the live tree.
func (d *disk) created(ino uint64, dir bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if dir {
		d.newDir(ino)
	} else {
		d.newFile(ino)
	}
}

// fileOf returns the record of a live regular file, creating one (not
// durable) for an inode never seen.
func (d *disk) fileOf(ino uint64) *fileRec {
	id, ok := d.byIno[ino]
	if !ok || d.files[id] == nil {
		id = d.newFile(ino)
	}
	return d.files[id]
}

// wrote marks [off, off+n) of the file dirty.
func (d *disk) wrote(ino uint64, off, n int64) {
	if n <= 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stats.Writes++
	f := d.fileOf(ino)
	if k := len(f.dirty); k > 0 && f.dirty[k-1].end >= off && f.dirty[k-1].off <= off+n {
		f.dirty[k-1] = span{min(f.dirty[k-1].off, off), max(f.dirty[k-1].end, off+n)}
		return
	}
	f.dirty = append(f.dirty, span{off, off + n})
}

// resized marks the bytes between the old and new size dirty.
func (d *disk) resized(ino uint64, from, to int64) {
	if from == to {
		return
	}
	d.wroteNoCount(ino, min(from, to), max(from, to))
}

func (d *disk) wroteNoCount(ino uint64, off, end int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f := d.fileOf(ino)
	f.dirty = append(f.dirty, span{off, end})
}

// syncFile makes the live contents of the file durable: the shadow copy
// takes the live size and every dirty range. src reads the live file.
func (d *disk) syncFile(ino uint64, src *os.File, syncWrite bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if syncWrite {
		d.stats.SyncWrites++
	} else {
		d.stats.Fsyncs++
	}
	id, ok := d.byIno[ino]
	if !ok || d.files[id] == nil {
		id = d.newFile(ino)
	}
	f := d.files[id]
	st, err := src.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	dst, err := os.OpenFile(d.shadowPath(id), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer dst.Close()
	if !f.hasData {
		// Nothing durable yet: everything the file holds now is new.
		f.dirty = []span{{0, size}}
	}
	if err := dst.Truncate(size); err != nil {
		return err
	}
	buf := make([]byte, 64<<10)
	for _, s := range f.dirty {
		for off := s.off; off < min(s.end, size); {
			n := min(int64(len(buf)), min(s.end, size)-off)
			m, err := src.ReadAt(buf[:n], off)
			if m > 0 {
				if _, werr := dst.WriteAt(buf[:m], off); werr != nil {
					return werr
				}
			}
			if err != nil && !errors.Is(err, io.EOF) {
				return err
			}
			if m == 0 {
				break
			}
			off += int64(m)
		}
	}
	f.dirty, f.hasData, f.everSync = nil, true, true
	if d.journal {
		return d.commitNamespace()
	}
	return nil
}

// syncDir makes the live entries of the directory at path durable
// (in journal mode: every directory's entries).
func (d *disk) syncDir(path string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stats.DirFsyncs++
	if d.journal {
		return d.commitNamespace()
	}
	return d.snapshotDir(path)
}

// commitNamespace makes every directory entry durable, as a journaled
// file system's commit does.
func (d *disk) commitNamespace() error {
	return filepath.WalkDir(d.backing, func(p string, e os.DirEntry, err error) error {
		if err != nil {
			return nil // gone meanwhile
		}
		if e.IsDir() {
			return d.snapshotDir(p)
		}
		return nil
	})
}

// snapshotDir records the directory's live entries as durable; d.mu is
// held.
func (d *disk) snapshotDir(path string) error {
	ents, err := os.ReadDir(path)
	if err != nil {
		return err
	}
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return err
	}
	id, ok := d.byIno[st.Ino]
	if !ok || d.dirs[id] == nil {
		id = d.newDir(st.Ino)
	}
	entries := map[string]uint64{}
	for _, e := range ents {
		var cst syscall.Stat_t
		if err := syscall.Lstat(filepath.Join(path, e.Name()), &cst); err != nil {
			continue // gone meanwhile
		}
		cid, ok := d.byIno[cst.Ino]
		if !ok {
			if e.IsDir() {
				cid = d.newDir(cst.Ino)
			} else {
				cid = d.newFile(cst.Ino)
			}
		}
		entries[e.Name()] = cid
	}
	d.dirs[id].entries = entries
	return nil
}

// cut throws away everything not durable: the backing tree is rebuilt
// from the records (durable entries, durable contents), then adopted as
// the new durable state. The file system must not be mounted.
func (d *disk) cut() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, liveEntries := d.liveSize()
	var dirty int64
	for _, f := range d.files {
		for _, s := range f.dirty {
			dirty += s.end - s.off
		}
	}
	ents, err := os.ReadDir(d.backing)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(d.backing, e.Name())); err != nil {
			return err
		}
	}
	var keptBytes, keptEntries int64 // keptBytes: materialized file contents
	if err := d.materialize(d.rootID, d.backing, &keptBytes, &keptEntries); err != nil {
		return err
	}
	stats := d.stats
	stats.Cuts++
	stats.LostBytes += dirty
	stats.LostEntries += max(0, liveEntries-keptEntries)
	if err := d.adopt(); err != nil {
		return err
	}
	d.stats = stats
	return nil
}

// liveSize is the byte and entry count of the backing tree.
func (d *disk) liveSize() (bytes, entries int64) {
	_ = filepath.Walk(d.backing, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == d.backing {
			return nil
		}
		entries++
		if fi.Mode().IsRegular() {
			bytes += fi.Size()
		}
		return nil
	})
	return bytes, entries
}

func (d *disk) materialize(dirID uint64, path string, bytes, entries *int64) error {
	for name, id := range d.dirs[dirID].entries {
		p := filepath.Join(path, name)
		*entries++
		if d.dirs[id] != nil {
			if err := os.Mkdir(p, 0o755); err != nil {
				return err
			}
			if err := d.materialize(id, p, bytes, entries); err != nil {
				return err
			}
			continue
		}
		f := d.files[id]
		if f == nil || !f.hasData {
			if err := os.WriteFile(p, nil, 0o644); err != nil {
				return err
			}
			continue
		}
		if err := copyFile(d.shadowPath(id), p); err != nil {
			return err
		}
		if fi, err := os.Stat(p); err == nil {
			*bytes += fi.Size()
		}
	}
	return nil
}

// snapshot returns the counters.
func (d *disk) snapshot() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stats
}

func copyFile(from, to string) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}
