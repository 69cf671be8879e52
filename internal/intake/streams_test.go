package intake

import "testing"

func TestCovers(t *testing.T) {
	cases := []struct {
		filter, sub string
		want        bool
	}{
		{"pos.*.*.cmd.>", "pos.S1.P1.cmd.>", true},
		{"pos.>", "pos.S1.P1.cmd.>", true},
		{">", "pos.S1.P1.cmd.>", true},
		{"pos.S1.*.cmd.>", "pos.S1.P1.cmd.>", true},
		{"pos.S2.*.cmd.>", "pos.S1.P1.cmd.>", false},
		{"pos.*.*.cmd.sale", "pos.S1.P1.cmd.>", false},
		{"pos.*.*.cmd.*", "pos.S1.P1.cmd.>", false},
		{"pos.*.*.evt.>", "pos.S1.P1.cmd.>", false},
		{"other.>", "pos.S1.P1.cmd.>", false},
		{"pos.*.*.cmd.>", "pos.S1.P1.cmd", false},
		{"pos.*", "pos.S1.P1.cmd.>", false},
		{"pos.S1.P1.cmd.sale", "pos.S1.P1.cmd.sale", true},
	}
	for _, c := range cases {
		if got := Covers(c.filter, c.sub); got != c.want {
			t.Errorf("Covers(%q, %q) = %v, want %v", c.filter, c.sub, got, c.want)
		}
	}
}
