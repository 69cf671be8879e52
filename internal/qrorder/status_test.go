package qrorder

import "testing"

// TestStatusTable pins what the agent makes of each order status: Final is
// the one definition of a final status (the session and the soak use it).
func TestStatusTable(t *testing.T) {
	for _, c := range []struct {
		s                        Status
		known, paid, open, final bool
	}{
		{StatusCreated, true, false, true, false},
		{StatusProcessed, true, true, false, true},
		{StatusExpired, true, false, false, true},
		{StatusCanceled, true, false, false, true},
		{StatusRefunded, true, true, false, true},
		{StatusActionRequired, true, false, false, false},
		{StatusFailed, true, false, false, false},
		{StatusAtTerminal, true, false, false, false},
		{"approved", false, false, false, false},
		{"", false, false, false, false},
	} {
		t.Run(string(c.s), func(t *testing.T) {
			got := [4]bool{c.s.Known(), c.s.Paid(), c.s.Open(), c.s.Final()}
			if want := [4]bool{c.known, c.paid, c.open, c.final}; got != want {
				t.Errorf("Known, Paid, Open, Final = %v, want %v", got, want)
			}
		})
	}
}
