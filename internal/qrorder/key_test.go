package qrorder

import "testing"

// TestKeysGolden pins the idempotency key format of docs/protocol.md ("How the agent talks to Mercado Pago").
// The expected values were computed independently (SHA-1 over namespace
// bytes + name, RFC 4122 version 5). If this test fails, do not update it:
// an upgrade mid-sale would create a second order.
func TestKeysGolden(t *testing.T) {
	cases := []struct{ got, want string }{
		{SaleKey("STORE001POS001", "000123", OpCreate), "061e12a8-b636-589c-9acd-f295307cdb92"},
		{SaleKey("STORE001POS001", "000123", OpCancel), "5aea6f1d-f4ef-555e-bd01-d0faa212b2bb"},
		{SaleRefundKey("STORE001POS001", "000123", "r1"), "25c2b59a-c297-5e0b-81e2-93d503ea49c4"},
		{OrderKey("ORD01JABCDEFGHJKMNPQRSTVWXYZ", OpCancel), "8ad4bd8c-b7bd-5a57-ab9b-b177aaaebc72"},
		{OrderRefundKey("ORD01JABCDEFGHJKMNPQRSTVWXYZ", "total"), "32b6b529-b914-58d9-b720-ff171d4382f6"},
	}
	for i, c := range cases {
		if c.got != c.want {
			t.Errorf("key %d = %s, want %s", i, c.got, c.want)
		}
	}
	if SaleKey("A", "B", OpCreate) == SaleKey("A", "B", OpCancel) || SaleKey("AB", "C", OpCreate) == SaleKey("A", "BC", OpCreate) {
		t.Fatal("distinct names gave the same key")
	}
}

func BenchmarkSaleKey(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = SaleKey("STORE001POS001", "000123", OpCreate)
	}
}
