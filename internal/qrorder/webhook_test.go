package qrorder

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"
)

func TestVerifyWebhook(t *testing.T) {
	const sec = "s3cr3t"
	sign := func(id, reqID, ts string) string {
		m := hmac.New(sha256.New, []byte(sec))
		m.Write([]byte("id:" + id + ";request-id:" + reqID + ";ts:" + ts + ";"))
		return "ts=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))
	}
	if _, ok := VerifyWebhook(sec, sign("ord01", "r1", "1700000000"), "r1", "ORD01"); !ok {
		t.Fatal("lowercased id signature refused")
	}
	sig, ok := VerifyWebhook(sec, sign("ORD01", "r1", "1700000000"), "r1", "ORD01")
	if !ok || !sig.At.Equal(time.Unix(1700000000, 0)) || len(sig.V1) != 64 {
		t.Fatalf("valid signature: %+v, %v", sig, ok)
	}
	if sig, ok := VerifyWebhook(sec, sign("ORD01", "r1", "1700000000123"), "r1", "ORD01"); !ok || !sig.At.Equal(time.UnixMilli(1700000000123)) {
		t.Fatalf("millisecond ts: %+v, %v", sig, ok)
	}
	if sig, ok := VerifyWebhook(sec, sign("ORD01", "r1", "soon"), "r1", "ORD01"); !ok || !sig.At.IsZero() {
		t.Fatalf("unreadable ts: %+v, %v; want a valid HMAC with a zero time", sig, ok)
	}
	for _, bad := range []string{"", "ts=1", "v1=00", sign("ORD02", "r1", "1"), "ts=1,v1=zz", sign("ORD01", "r2", "1")} {
		if _, ok := VerifyWebhook(sec, bad, "r1", "ORD01"); ok {
			t.Fatalf("bad signature %q accepted", bad)
		}
	}
}
