package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// node is a loopback node that tells the disk model about every change
// and every fsync. Operations the model does not follow (hard links,
// symlinks, device nodes, copy_file_range) are refused so nothing slips
// past it.
type node struct {
	fs.LoopbackNode
	d   *disk
	ino uint64 // the backing inode, stable across renames
}

var (
	_ fs.NodeCreater   = (*node)(nil)
	_ fs.NodeOpener    = (*node)(nil)
	_ fs.NodeMkdirer   = (*node)(nil)
	_ fs.NodeSetattrer = (*node)(nil)
	_ fs.NodeFsyncer   = (*node)(nil)
)

// newRoot returns the root node of a loopback over d.backing.
func newRoot(d *disk) (fs.InodeEmbedder, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(d.backing, &st); err != nil {
		return nil, err
	}
	r := &fs.LoopbackRoot{Path: d.backing, Dev: st.Dev}
	r.NewNode = func(r *fs.LoopbackRoot, _ *fs.Inode, _ string, st *syscall.Stat_t) fs.InodeEmbedder {
		return &node{LoopbackNode: fs.LoopbackNode{RootData: r}, d: d, ino: st.Ino}
	}
	root := &node{LoopbackNode: fs.LoopbackNode{RootData: r}, d: d, ino: st.Ino}
	r.RootNode = root
	return root, nil
}

// backingPath is the node's path in the backing tree.
func (n *node) backingPath() string {
	return filepath.Join(n.RootData.Path, n.Path(n.Root()))
}

func inoOf(ch *fs.Inode) uint64 {
	if n, ok := ch.Operations().(*node); ok {
		return n.ino
	}
	return ch.StableAttr().Ino
}

func (n *node) Create(ctx context.Context, name string, flags, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	var before syscall.Stat_t
	existed := syscall.Lstat(filepath.Join(n.backingPath(), name), &before) == nil
	ch, fh, ff, errno := n.LoopbackNode.Create(ctx, name, flags, mode, out)
	if errno != 0 {
		return ch, fh, ff, errno
	}
	ino := inoOf(ch)
	switch {
	case !existed:
		n.d.created(ino, false)
	case flags&syscall.O_TRUNC != 0:
		n.d.resized(ino, before.Size, 0)
	}
	return ch, n.wrap(fh, ino, flags), ff, 0
}

func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	var before syscall.Stat_t
	if flags&syscall.O_TRUNC != 0 && syscall.Lstat(n.backingPath(), &before) == nil {
		defer n.d.resized(n.ino, before.Size, 0)
	}
	fh, ff, errno := n.LoopbackNode.Open(ctx, flags)
	if errno != 0 {
		return fh, ff, errno
	}
	return n.wrap(fh, n.ino, flags), ff, 0
}

func (n *node) wrap(fh fs.FileHandle, ino uint64, flags uint32) fs.FileHandle {
	lf := fh.(*fs.LoopbackFile)
	fd, _ := lf.PassthroughFd()
	return &handle{lf: lf, fd: fd, d: n.d, ino: ino, sync: flags&(syscall.O_SYNC|syscall.O_DSYNC) != 0}
}

func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	ch, errno := n.LoopbackNode.Mkdir(ctx, name, mode, out)
	if errno == 0 {
		n.d.created(inoOf(ch), true)
	}
	return ch, errno
}

func (n *node) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if h, ok := f.(*handle); ok {
		f = h.lf
	}
	size, resize := in.GetSize()
	var before syscall.Stat_t
	if resize && syscall.Lstat(n.backingPath(), &before) != nil {
		resize = false
	}
	errno := n.LoopbackNode.Setattr(ctx, f, in, out)
	if errno == 0 && resize {
		n.d.resized(n.ino, before.Size, int64(size))
	}
	return errno
}

// Fsync serves fsync and fdatasync of files and fsync of directories.
func (n *node) Fsync(ctx context.Context, f fs.FileHandle, flags uint32) syscall.Errno {
	if n.IsDir() {
		return fs.ToErrno(n.d.syncDir(n.backingPath()))
	}
	var src *os.File
	var err error
	if h, ok := f.(*handle); ok {
		src, err = h.reopen()
	} else {
		src, err = os.Open(n.backingPath())
	}
	if err != nil {
		return fs.ToErrno(err)
	}
	defer src.Close()
	return fs.ToErrno(n.d.syncFile(n.ino, src, false))
}

func (n *node) Mknod(context.Context, string, uint32, uint32, *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}

func (n *node) Symlink(context.Context, string, string, *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}

func (n *node) Link(context.Context, fs.InodeEmbedder, string, *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	return nil, syscall.EPERM
}

func (n *node) CopyFileRange(context.Context, fs.FileHandle, uint64, *fs.Inode, fs.FileHandle, uint64, uint64, uint64) (uint32, syscall.Errno) {
	return 0, syscall.ENOTSUP
}

// handle is an open file: writes go to the backing file and are marked
// dirty; on a handle opened O_SYNC or O_DSYNC each write is also synced.
// It deliberately has no PassthroughFd: the kernel must send every write
// here, not straight to the backing file.
type handle struct {
	lf   *fs.LoopbackFile
	fd   int
	d    *disk
	ino  uint64
	sync bool
}

// reopen opens the handle's file for reading (also once unlinked).
func (h *handle) reopen() (*os.File, error) {
	return os.Open("/proc/self/fd/" + strconv.Itoa(h.fd))
}

func (h *handle) Read(ctx context.Context, buf []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	return h.lf.Read(ctx, buf, off)
}

func (h *handle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	n, errno := h.lf.Write(ctx, data, off)
	h.d.wrote(h.ino, off, int64(n))
	if errno == 0 && h.sync {
		src, err := h.reopen()
		if err != nil {
			return n, fs.ToErrno(err)
		}
		defer src.Close()
		if err := h.d.syncFile(h.ino, src, true); err != nil {
			return n, fs.ToErrno(err)
		}
	}
	return n, errno
}

func (h *handle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	src, err := h.reopen()
	if err != nil {
		return fs.ToErrno(err)
	}
	defer src.Close()
	return fs.ToErrno(h.d.syncFile(h.ino, src, false))
}

func (h *handle) Release(ctx context.Context) syscall.Errno { return h.lf.Release(ctx) }
func (h *handle) Flush(ctx context.Context) syscall.Errno   { return h.lf.Flush(ctx) }
func (h *handle) Getattr(ctx context.Context, out *fuse.AttrOut) syscall.Errno {
	return h.lf.Getattr(ctx, out)
}

func (h *handle) Lseek(ctx context.Context, off uint64, whence uint32) (uint64, syscall.Errno) {
	return h.lf.Lseek(ctx, off, whence)
}

func (h *handle) Allocate(ctx context.Context, off, size uint64, mode uint32) syscall.Errno {
	var before syscall.Stat_t
	_ = syscall.Fstat(h.fd, &before)
	errno := h.lf.Allocate(ctx, off, size, mode)
	var after syscall.Stat_t
	if errno == 0 && syscall.Fstat(h.fd, &after) == nil {
		h.d.resized(h.ino, before.Size, after.Size)
	}
	return errno
}

// dirHandle is an open directory whose fsync makes its entries durable.
type dirHandle struct {
	inner interface {
		fs.FileReaddirenter
		fs.FileSeekdirer
		fs.FileReleasedirer
	}
	n *node
}

func (n *node) OpendirHandle(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	fh, ff, errno := n.LoopbackNode.OpendirHandle(ctx, flags)
	if errno != 0 {
		return fh, ff, errno
	}
	inner, ok := fh.(interface {
		fs.FileReaddirenter
		fs.FileSeekdirer
		fs.FileReleasedirer
	})
	if !ok {
		return nil, 0, syscall.ENOTSUP
	}
	return &dirHandle{inner: inner, n: n}, ff, 0
}

func (h *dirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	return h.inner.Readdirent(ctx)
}
func (h *dirHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	return h.inner.Seekdir(ctx, off)
}
func (h *dirHandle) Releasedir(ctx context.Context, flags uint32) { h.inner.Releasedir(ctx, flags) }
func (h *dirHandle) Fsyncdir(ctx context.Context, flags uint32) syscall.Errno {
	return fs.ToErrno(h.n.d.syncDir(h.n.backingPath()))
}
