package fleet

import (
	"testing"
)

// FuzzParseInfo: any answer on the discovery subject (it comes from the
// network) is either an agent or ignored, never a panic.
func FuzzParseInfo(f *testing.F) {
	f.Add([]byte(`{"type":"io.nats.micro.v1.info_response","name":"posagent","id":"X","version":"1.0.0","metadata":{"store_id":"S1","started":"2026-01-02T03:04:05Z"},"endpoints":[{"name":"status_P1","subject":"pos.S1.P1.status","metadata":{"pos":"P1"}}]}`))
	f.Add([]byte(`{"type":"io.nats.micro.v1.info_response","name":"posagent","id":"X","endpoints":[{"metadata":null},null]}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, ok := parseInfo(data, "posagent")
		if !ok {
			return
		}
		if a.ID == "" {
			t.Fatal("an agent without id")
		}
		for _, e := range a.POS {
			if e.POS == "" || e.Subject == "" {
				t.Fatalf("endpoint %+v", e)
			}
		}
	})
}
