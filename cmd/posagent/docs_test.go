package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/posagent/posagent/internal/command"
	"github.com/posagent/posagent/internal/events"
	"github.com/posagent/posagent/internal/qrorder"
	"github.com/posagent/posagent/internal/subject"
)

// The register protocol reference (docs/protocol.md) must say what the code
// does: its JSON examples are decoded here by the agent's own decoder and
// types, and every event field and error code the code knows is in it.

// docExample is one JSON block of a document, marked by the HTML comment
// `<!-- example: KIND ARG -->` on the line before its fence.
type docExample struct {
	kind, arg string
	line      int
	body      []byte
}

var exampleMark = regexp.MustCompile(`^<!-- example: (\w+)(?: (\w+))? -->$`)

func docExamples(t *testing.T, path string) []docExample {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	var out []docExample
	for i := 0; i < len(lines); i++ {
		m := exampleMark.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		if i+1 >= len(lines) || lines[i+1] != "```json" {
			t.Fatalf("%s:%d: an example mark must be followed by a ```json fence", path, i+1)
		}
		ex := docExample{kind: m[1], arg: m[2], line: i + 1}
		var body []string
		for i += 2; i < len(lines) && lines[i] != "```"; i++ {
			body = append(body, lines[i])
		}
		ex.body = []byte(strings.Join(body, "\n"))
		out = append(out, ex)
	}
	return out
}

func strictDecode(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func TestProtocolDocExamples(t *testing.T) {
	const doc = "../../docs/protocol.md"
	kinds := map[string]int{}
	for _, ex := range docExamples(t, doc) {
		kinds[ex.kind]++
		switch ex.kind {
		case "command":
			if _, rej := command.Decode(ex.arg, ex.body); rej != nil {
				t.Errorf("%s:%d: the %s example is rejected: %v", doc, ex.line, ex.arg, rej)
			}
		case "event":
			var ev events.Event
			if err := strictDecode(ex.body, &ev); err != nil {
				t.Errorf("%s:%d: event example: %v", doc, ex.line, err)
			}
			if ev.Status == "" || ev.ExternalPOSID == "" || ev.At == "" {
				t.Errorf("%s:%d: event example lacks status, external_pos_id or at", doc, ex.line)
			}
		case "status":
			var st events.StatusReply
			if err := strictDecode(ex.body, &st); err != nil {
				t.Errorf("%s:%d: status example: %v", doc, ex.line, err)
			}
		default:
			t.Errorf("%s:%d: unknown example kind %q", doc, ex.line, ex.kind)
		}
	}
	for _, k := range []string{"command", "event", "status"} {
		if kinds[k] == 0 {
			t.Errorf("%s has no %s example", doc, k)
		}
	}
}

// The rejected event shown in the reference is what the agent says about
// a sale whose amount is a JSON number.
func TestProtocolDocRejection(t *testing.T) {
	_, rej := command.Decode("sale", []byte(`{"sale_id":"000124","total_amount":150}`))
	if rej == nil {
		t.Fatal("a numeric total_amount was accepted")
	}
	data, err := os.ReadFile("../../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	want := `"error": {"code": ` + q(rej.Code) + `, "field": ` + q(rej.Field) + `, "message": ` + q(rej.Message) + `}`
	if !strings.Contains(string(data), want) {
		t.Errorf("docs/protocol.md does not show the real rejection:\n%s", want)
	}
}

// Every field of an event and every error code is documented.
func TestProtocolDocIsComplete(t *testing.T) {
	data, err := os.ReadFile("../../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	typ := reflect.TypeOf(events.Event{})
	for i := range typ.NumField() {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		if name == "" || name == "-" || name == "msg_id" { // msg_id is the Nats-Msg-Id header, not a field
			continue
		}
		if !strings.Contains(doc, "| `"+name+"`") && !strings.Contains(doc, "`, `"+name+"`") {
			t.Errorf("event field %q is not in the field table", name)
		}
	}
	codes := []string{command.CodeTooLarge, command.CodeUnknownCommand, command.CodeDuplicateSale,
		command.CodeInvalidState, command.CodeUnknownSale, command.CodeStale, command.CodeAPIUnavailable,
		command.CodeInvalidQRData, qrorder.CodeRequired, qrorder.CodeValue, qrorder.CodeType,
		qrorder.CodeMaxItems, qrorder.CodeUnsupported, qrorder.CodeJSONSyntax}
	for _, c := range codes {
		if !strings.Contains(doc, "| `"+c+"` |") {
			t.Errorf("error code %q is not in the error code table", c)
		}
	}
	for _, s := range []string{events.Created, events.Processed, events.Expired, events.Canceled,
		events.Refunded, events.Rejected, events.Failed} {
		if !strings.Contains(doc, "| `"+s+"` |") {
			t.Errorf("event status %q is not in the status table", s)
		}
	}
	for _, id := range []string{
		subject.SaleMsgID("<store>", "<pos>", "<sale_id>", "<status>"),
		subject.RefundMsgID("<store>", "<pos>", "<sale_id>", "<refund_id>"),
	} {
		if !strings.Contains(doc, "`"+id+"`") {
			t.Errorf("message id %q is not documented", id)
		}
	}
}

// No document of the repository links outside it, and every relative link
// in one leads to a file that exists.
func TestDocsStayInTheRepository(t *testing.T) {
	root := "../.."
	var docs []string
	for _, pattern := range []string{"*.md", "docs/*.md", "examples/*/*.md", "deploy/*/*.md", "configs/*.yaml"} {
		m, err := filepath.Glob(filepath.Join(root, pattern))
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, m...)
	}
	link := regexp.MustCompile(`\]\(([^)#]+)(#[^)]*)?\)`)
	for _, path := range docs {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(data), "CONTRACT"+".md") || strings.Contains(string(data), "../"+"shared") {
			t.Errorf("%s cites a specification outside the repository", path)
		}
		for _, m := range link.FindAllStringSubmatch(string(data), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			full := filepath.Join(filepath.Dir(path), target)
			rel, err := filepath.Rel(root, full)
			if err != nil || strings.HasPrefix(rel, "..") {
				t.Errorf("%s links outside the repository: %s", path, target)
				continue
			}
			if _, err := os.Stat(full); err != nil {
				t.Errorf("%s links to a missing file: %s", path, target)
			}
		}
	}
}

// No source file cites the specification the project started from (it
// lives outside the repository): comments cite the repository's own docs.
func TestSourcesCiteOnlyTheRepository(t *testing.T) {
	root := "../.."
	spec := "CONTRACT" + ".md" // split, so this file does not cite it either
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "node_modules" || d.Name() == "dist") {
			return filepath.SkipDir
		}
		switch filepath.Ext(path) {
		case ".go", ".js", ".c", ".h", ".sh", ".service", ".conf", ".yml", ".yaml", ".md", ".html", ".css":
		default:
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.Contains(string(data), spec) || strings.Contains(string(data), "../"+"shared/") {
			t.Errorf("%s cites a specification outside the repository", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
