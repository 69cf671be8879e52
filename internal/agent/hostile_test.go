package agent

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
)

// hostile is one generated bad command and the code it must get.
type hostile struct {
	kind, verb, payload, code string
}

// hostileCommands makes n malformed commands of every kind, seeded so a
// failure can be replayed.
func hostileCommands(n int, seed uint64) []hostile {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	id := func() string { return fmt.Sprintf("h%d", r.IntN(1_000_000)) }
	long := func(k int) string { return strings.Repeat(string(rune('a'+r.IntN(26))), k) }
	gens := []func() hostile{
		func() hostile { // not JSON
			bad := []string{`{`, `nope`, `{"sale_id":}`, `[1,2`, "\x00\x01", `{"a":1}{"b":2}`, `"just a string"`, `42`, `null`, `[]`}
			return hostile{"bad JSON", "sale", bad[r.IntN(len(bad))], "json_syntax_error"}
		},
		func() hostile { // money as a number
			return hostile{"amount as number", "sale", fmt.Sprintf(`{"sale_id":%q,"total_amount":%d.%02d}`, id(), r.IntN(1000), r.IntN(100)), "property_type"}
		},
		func() hostile { // wrong types
			vals := []string{`true`, `[]`, `{}`, `null`, `12`}
			fields := []string{"description", "mode", "expiration_time"}
			return hostile{"wrong type", "sale", fmt.Sprintf(`{"sale_id":%q,"total_amount":"1.00",%q:%s}`, id(), fields[r.IntN(len(fields))], vals[r.IntN(len(vals))]), "property_type"}
		},
		func() hostile { // unknown field
			return hostile{"unknown field", "sale", fmt.Sprintf(`{"sale_id":%q,"total_amount":"1.00",%q:"x"}`, id(), "x"+long(1+r.IntN(10))), "unsupported_properties"}
		},
		func() hostile { // unknown verb
			return hostile{"unknown verb", "v" + long(1+r.IntN(8)), `{}`, "unknown_command"}
		},
		func() hostile { // huge payload
			return hostile{"huge payload", "sale", fmt.Sprintf(`{"sale_id":%q,"total_amount":"1.00","description":%q}`, id(), long(65*1024+r.IntN(1024))), "payload_too_large"}
		},
		func() hostile { // too long field
			return hostile{"too long", "sale", fmt.Sprintf(`{"sale_id":%q,"total_amount":"1.00","description":%q}`, id(), long(151+r.IntN(500))), "property_value"}
		},
		func() hostile { // control characters
			c := rune(r.IntN(32))
			if c == 0 {
				c = 0x7f
			}
			desc, _ := json.Marshal("a" + string(c) + "b")
			return hostile{"control character", "sale", fmt.Sprintf(`{"sale_id":%q,"total_amount":"1.00","description":%s}`, id(), desc), "property_value"}
		},
		func() hostile { // bad amounts
			bad := []string{"0", "0.00", "-1.00", "1.001", "1e3", " 1.00", "1,50", "+5", "01.00", "12345678901.00", "", "NaN", "0x10"}
			return hostile{"bad amount", "sale", fmt.Sprintf(`{"sale_id":%q,"total_amount":%q}`, id(), bad[r.IntN(len(bad))]), "property_value"}
		},
		func() hostile { // missing fields
			return hostile{"missing field", []string{"sale", "cancel", "refund"}[r.IntN(3)], `{}`, "required_properties"}
		},
		func() hostile { // bad sale id
			bad := []string{"a b", "ñ", long(65), "a.b", "a/b", "*", ">"}
			return hostile{"bad sale_id", "cancel", fmt.Sprintf(`{"sale_id":%q}`, bad[r.IntN(len(bad))]), "property_value"}
		},
		func() hostile { // a key twice: which one counts depends on the JSON library
			return hostile{"duplicate key", "sale", fmt.Sprintf(`{"sale_id":%q,"total_amount":"1.00","total_amount":"%d.00"}`, id(), 2+r.IntN(900)), "json_syntax_error"}
		},
		func() hostile { // invisible or bidirectional formatting characters in customer text
			inv := []rune{0x202e, 0x202d, 0x2066, 0x2067, 0x2068, 0x2069, 0x200b, 0x200c, 0x200d, 0x200e, 0x200f, 0x061c, 0xfeff, 0x00ad, 0x2060, 0xe0001, 0x2028, 0x2029}
			desc, _ := json.Marshal("Total 1" + string(inv[r.IntN(len(inv))]) + "00")
			return hostile{"invisible character", "sale", fmt.Sprintf(`{"sale_id":%q,"total_amount":"1.00","description":%s}`, id(), desc), "property_value"}
		},
		func() hostile { // too many items
			items := strings.Repeat(`{"title":"a","unit_price":"1.00","quantity":1},`, 10+r.IntN(5))
			return hostile{"too many items", "sale", fmt.Sprintf(`{"sale_id":%q,"total_amount":"1.00","items":[%s{"title":"a","unit_price":"1.00","quantity":1}]}`, id(), items), "maximum_items"}
		},
	}
	out := make([]hostile, n)
	for i := range out {
		out[i] = gens[i%len(gens)]()
	}
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// TestHostileInput sends 1,000 generated malformed commands on the agent's
// own POS subjects: each gets exactly one rejected event with the expected
// code, none reaches the API, and the agent is healthy and working after.
func TestHostileInput(t *testing.T) {
	n := 1000
	if testing.Short() {
		n = 200
	}
	h := newHarness(t)
	cmds := hostileCommands(n, 20261129)
	pos := []string{"POS1", "POS2", "POS3"}
	seqs := make([]uint64, len(cmds))
	for i, c := range cmds {
		seqs[i] = h.send(pos[i%len(pos)], c.verb, c.payload)
	}
	type row struct{ sent, rejected, wrongCode int }
	table := map[string]*row{}
	for i, c := range cmds {
		ev := h.waitCmd(seqs[i], "rejected").Event
		rw := table[c.kind]
		if rw == nil {
			rw = &row{}
			table[c.kind] = rw
		}
		rw.sent++
		rw.rejected++
		if ev.Error == nil || ev.Error.Code != c.code {
			rw.wrongCode++
			t.Errorf("%s %.80q: got %+v, want code %s", c.verb, c.payload, ev.Error, c.code)
		}
	}
	// Exactly one event per command, in the stream too.
	perSeq := map[uint64]int{}
	for _, r := range h.storedEvents() {
		perSeq[r.CommandSeq()]++
	}
	extra := 0
	for _, s := range seqs {
		if perSeq[s] != 1 {
			extra++
		}
	}
	apiCalls := h.apiRequests()
	code, body := h.get("/healthz")
	var kinds []string
	for k := range table {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	var b strings.Builder
	fmt.Fprintf(&b, "| kind | sent | rejected | wrong code |\n| --- | --- | --- | --- |\n")
	for _, k := range kinds {
		fmt.Fprintf(&b, "| %s | %d | %d | %d |\n", k, table[k].sent, table[k].rejected, table[k].wrongCode)
	}
	fmt.Fprintf(&b, "\ncommands %d, commands without exactly one stored rejected event %d, API calls %d, /healthz after: %d\n", len(cmds), extra, apiCalls, code)
	t.Log("\n" + b.String())
	if extra != 0 || apiCalls != 0 || code != 200 {
		t.Fatalf("extra events %d, API calls %d, health %d %s", extra, apiCalls, code, body)
	}
	h.send("POS1", "sale", `{"sale_id":"after-hostile","total_amount":"1.00"}`)
	ev := h.waitSale("after-hostile", "created").Event
	if _, err := json.Marshal(ev); err != nil || ev.QRData == "" {
		t.Fatalf("%+v", ev)
	}
}
