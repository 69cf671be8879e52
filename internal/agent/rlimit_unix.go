//go:build unix

package agent

import "syscall"

// openFileLimit is the process's soft RLIMIT_NOFILE (the Go runtime has
// raised it to the hard limit where allowed); 0 if unknown.
func openFileLimit() uint64 {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0
	}
	return uint64(r.Cur)
}
