//go:build !unix

package agent

// openFileLimit is unknown here: the connection cap is httpMaxConns.
func openFileLimit() uint64 { return 0 }
