package qrorder

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// WebhookSignature is a verified x-signature of a Mercado Pago
// notification: when it was signed, and its HMAC (lowercase hex), which
// names the notification for replay checks.
type WebhookSignature struct {
	At time.Time
	V1 string
}

// VerifyWebhook checks a notification's x-signature header ("ts=...,
// v1=...") against secret: v1 must be the HMAC-SHA256 of
// "id:<data.id>;request-id:<x-request-id>;ts:<ts>;". The id's casing
// changed over time at Mercado Pago, so the id as sent and lowercased are
// both tried. ts is Unix seconds or milliseconds (both have been sent).
// Whether the signature is fresh enough is the caller's rule; At is zero
// when ts cannot be read.
func VerifyWebhook(secret, header, requestID, dataID string) (WebhookSignature, bool) {
	var ts, v1 string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "ts":
			ts = v
		case "v1":
			v1 = v
		}
	}
	want, err := hex.DecodeString(v1)
	if ts == "" || v1 == "" || err != nil {
		return WebhookSignature{}, false
	}
	for _, id := range []string{dataID, strings.ToLower(dataID)} {
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte("id:" + id + ";request-id:" + requestID + ";ts:" + ts + ";"))
		if hmac.Equal(m.Sum(nil), want) {
			at, _ := webhookTime(ts) // zero when unreadable: never fresh
			return WebhookSignature{At: at, V1: strings.ToLower(v1)}, true
		}
	}
	return WebhookSignature{}, false
}

// webhookTime reads a signature's ts: Unix seconds, or milliseconds.
func webhookTime(ts string) (time.Time, bool) {
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || n <= 0 {
		return time.Time{}, false
	}
	if n >= 1e12 {
		return time.UnixMilli(n), true
	}
	return time.Unix(n, 0), true
}
