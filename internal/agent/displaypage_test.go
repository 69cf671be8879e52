package agent

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
)

// The customer display page is served for every configured POS, also one
// whose configuration lists no web display, and it follows that POS's
// screens live; an unknown POS is 404.
func TestDisplayPageForEveryPOS(t *testing.T) {
	h := newHarness(t) // no POS lists a display
	for _, pos := range []string{"POS1", "POS2", "POS3"} {
		if code, body := h.get("/display/" + pos); code != http.StatusOK || !strings.Contains(body, `<html lang="es-AR">`) {
			t.Fatalf("/display/%s: %d %.100s", pos, code, body)
		}
	}
	if code, _ := h.get("/display/NOPE"); code != http.StatusNotFound {
		t.Fatalf("unknown POS display answered %d", code)
	}

	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+h.agent.HTTPAddr()+"/display/POS1/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	h.send("POS1", "sale", `{"sale_id":"page1","total_amount":"10.00"}`)
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "data: ") && strings.Contains(sc.Text(), `"state":"awaiting_payment"`) {
			return
		}
	}
	t.Fatalf("the page of a POS without a web display never showed the sale's QR: %v", sc.Err())
}
