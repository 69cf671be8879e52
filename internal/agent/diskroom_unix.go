//go:build unix

package agent

import "syscall"

// diskHasRoom reports whether the filesystem of dir has at least 1 MiB
// free.
func diskHasRoom(dir string) bool {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return false
	}
	return st.Bavail*uint64(st.Bsize) >= 1<<20
}
