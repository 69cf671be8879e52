package command

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// duplicateKey finds the first object key that appears twice in the same
// object of payload (valid JSON) and returns its path ("total_amount",
// "items[1].title") and the key. encoding/json keeps the last of repeated
// keys while other decoders keep the first, so a payload with one could
// mean two different sales: it is refused instead.
func duplicateKey(payload []byte) (path, key string, found bool) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var stack []*jsonFrame
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", "", false // the payload was parsed already: this is its end
		}
		var top *jsonFrame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.wantKey {
			k, isKey := tok.(string)
			if !isKey { // '}'
				stack = stack[:len(stack)-1]
				valueDone(stack)
				continue
			}
			top.key, top.wantKey = k, false
			if top.seen[k] {
				return framePath(stack), k, true
			}
			top.seen[k] = true
			continue
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &jsonFrame{object: true, wantKey: true, seen: map[string]bool{}})
		case json.Delim('['):
			stack = append(stack, &jsonFrame{})
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
			valueDone(stack)
		default:
			valueDone(stack)
		}
	}
}

// jsonFrame is one open object or array while walking a payload.
type jsonFrame struct {
	object  bool
	wantKey bool            // object: the next token is a key or '}'
	key     string          // object: the key whose value is being read
	seen    map[string]bool // object: keys so far
	index   int             // array: the element being read
}

// valueDone moves the innermost frame past the value just read.
func valueDone(stack []*jsonFrame) {
	if len(stack) == 0 {
		return
	}
	top := stack[len(stack)-1]
	if top.object {
		top.wantKey = true
	} else {
		top.index++
	}
}

// framePath renders the path of the value being read, keys cut to 64
// characters (the path goes back to the register in the rejection).
func framePath(stack []*jsonFrame) string {
	var b strings.Builder
	for _, f := range stack {
		if !f.object {
			fmt.Fprintf(&b, "[%d]", f.index)
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(clip(f.key, 64))
	}
	return b.String()
}
