package printer

import "time"

// WireTime is how long n bytes take on a serial line at baud with 8N1
// framing (10 bits a byte: start, 8 data, stop), ignoring flow-control
// pauses and the printer's own speed.
func WireTime(n, baud int) time.Duration {
	if baud <= 0 {
		return 0
	}
	return time.Duration(int64(n) * 10 * int64(time.Second) / int64(baud))
}
