package config

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"io"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// The decoder walks the yaml.Node tree itself instead of using
// yaml.Decoder.KnownFields: that stops at the first unknown key, and an
// operator editing a file on a Pi over SSH should see every problem in one
// run. Fields are matched by their `yaml` tags; a null value keeps the
// default, as if the key were absent.

// nodeBudget bounds the nodes visited, so a small file whose aliases expand
// exponentially ("billion laughs") cannot hang the agent.
const nodeBudget = 100_000

type decoder struct {
	problems Errors
	// raw holds each decoded number, duration and size as written, by key
	// path, so problems Validate finds echo "2m" rather than "2m0s".
	raw map[string]string
	// badPaths are the paths the decoder complained about; Validate's
	// findings at or under them would only repeat the complaint.
	badPaths []string
	budget   int
	// fatal means nothing usable was decoded (syntax error, not a mapping).
	fatal bool
}

func newDecoder() *decoder {
	return &decoder{raw: map[string]string{}, budget: nodeBudget}
}

func (d *decoder) bad(path, reason string, value *string) {
	d.problems = append(d.problems, Problem{Path: path, Reason: reason, Value: value})
	d.badPaths = append(d.badPaths, path)
}

// covers reports whether path is at or under a path the decoder already
// complained about.
func (d *decoder) covers(path string) bool {
	for _, b := range d.badPaths {
		if path == b || strings.HasPrefix(path, b+".") || strings.HasPrefix(path, b+"[") {
			return true
		}
	}
	return false
}

func (d *decoder) decodeDocument(data []byte, c *Config) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if !errors.Is(err, io.EOF) { // an empty file: Validate says what is missing
			d.syntax(err, data)
		}
		return
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		d.syntax(err, data)
		return
	default:
		d.bad("", fmt.Sprintf("YAML: line %d: a second document (after ---): the file must hold one", next.Line), nil)
		d.fatal = true
		return
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return
		}
		root = root.Content[0]
	}
	if root = d.resolve(root); root == nil {
		return
	}
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		return // only comments
	}
	if root.Kind != yaml.MappingNode {
		d.bad("", "the file must be a YAML mapping of keys (like store_id: S001)", nil)
		d.fatal = true
		return
	}
	d.value(root, reflect.ValueOf(c).Elem(), "")
}

func (d *decoder) syntax(err error, data []byte) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if line := errorLine(data); line > 0 {
		if rest, ok := strings.CutPrefix(msg, "line "); ok {
			if _, after, ok := strings.Cut(rest, ": "); ok {
				msg = after
			}
		}
		msg = fmt.Sprintf("line %d: %s", line, msg)
	}
	d.bad("", "YAML syntax error: "+msg, nil)
	d.fatal = true
}

// maxErrorLineScan bounds the lines errorLine parses again (each prefix
// once): a configuration file has a few hundred.
const maxErrorLineScan = 1000

// errorLine finds the line of a syntax error: the line after the longest
// run of leading lines that still parses. The YAML library names the line
// where the enclosing block began instead ("line 2" for a bad item on line
// 6). 0 when the file is too long to look.
func errorLine(data []byte) int {
	lines := bytes.SplitAfter(data, []byte("\n"))
	if len(lines) > maxErrorLineScan {
		return 0
	}
	lastOK, size := 0, 0
	for i, l := range lines {
		size += len(l)
		var n yaml.Node
		if err := yaml.Unmarshal(data[:size], &n); err == nil {
			lastOK = i + 1
		}
	}
	if lastOK >= len(lines) {
		return 0
	}
	return lastOK + 1
}

// resolve follows aliases and charges the budget; nil means it ran out.
func (d *decoder) resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	d.budget--
	if d.budget < 0 {
		if !d.fatal {
			d.bad("", "too many values (aliases expanded): not a configuration file", nil)
			d.fatal = true
		}
		return nil
	}
	return n
}

// value decodes n into v, the field at path.
func (d *decoder) value(n *yaml.Node, v reflect.Value, path string) {
	if n = d.resolve(n); n == nil {
		return
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return
	}
	t := v.Type()
	if k, ok := scalarKindOf(t); ok {
		d.scalarInto(n, v, path, k)
		return
	}
	switch t.Kind() {
	case reflect.String:
		// Strings are not kept in raw: Validate quotes them exactly, and
		// may quote only the harmless part of one (a URL list).
		if s, ok := d.scalar(n, path, "a string"); ok {
			v.SetString(s)
		}
	case reflect.Struct:
		d.mapping(n, v, path)
	case reflect.Pointer:
		elem := elemDefault(t.Elem())
		if d.mapping(n, elem, path) {
			p := reflect.New(t.Elem())
			p.Elem().Set(elem)
			v.Set(p)
		}
	case reflect.Slice:
		d.list(n, v, path)
	default: // a Config field of a new kind: TestExampleHasEveryKey catches it
		d.bad(path, fmt.Sprintf("cannot be decoded (no decoder for Go type %s)", t), nil)
	}
}

// scalarKind is how one kind of non-string scalar is read.
type scalarKind struct {
	what   string // for "must be <what>" when the node is not a scalar
	reason string // when the text does not parse
	set    func(v reflect.Value, s string) bool
}

func scalarKindOf(t reflect.Type) (scalarKind, bool) {
	switch {
	case t == reflect.TypeFor[time.Duration]():
		return scalarKind{"a duration like 10s", "must be a duration like 10s, 2m or 168h", func(v reflect.Value, s string) bool {
			dur, err := time.ParseDuration(strings.TrimSpace(s))
			v.SetInt(int64(dur))
			return err == nil
		}}, true
	case t == reflect.TypeFor[image.Point]():
		return scalarKind{"a size like 800x480", "must be WIDTHxHEIGHT in pixels like 800x480", func(v reflect.Value, s string) bool {
			p, ok := parsePoint(s)
			v.Set(reflect.ValueOf(p))
			return ok
		}}, true
	case t.Kind() == reflect.Int:
		return scalarKind{"a whole number", "must be a whole number", func(v reflect.Value, s string) bool {
			i, err := strconv.Atoi(strings.TrimSpace(s))
			v.SetInt(int64(i))
			return err == nil
		}}, true
	case t.Kind() == reflect.Int64: // every int64 in Config is a size in bytes
		return scalarKind{"a size like 64MiB", "must be a size like 512KiB, 64MiB or 1GiB, or a number of bytes", func(v reflect.Value, s string) bool {
			size, ok := parseSize(s)
			v.SetInt(size)
			return ok
		}}, true
	}
	return scalarKind{}, false
}

// scalarInto parses a scalar of kind k into v, keeping its text in raw for
// Validate's messages; a value that does not parse leaves v as it was.
func (d *decoder) scalarInto(n *yaml.Node, v reflect.Value, path string, k scalarKind) {
	s, ok := d.scalar(n, path, k.what)
	if !ok {
		return
	}
	parsed := reflect.New(v.Type()).Elem()
	if !k.set(parsed, s) {
		d.bad(path, k.reason, quote(s))
		return
	}
	v.Set(parsed)
	d.raw[path] = s
}

// list decodes a sequence into the slice v.
func (d *decoder) list(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.SequenceNode {
		d.bad(path, "must be a list (lines starting with -)", scalarValue(n))
		return
	}
	if len(n.Content) == 0 {
		// An empty list is the same as none: `urls: []` keeps the default.
		v.Set(reflect.Zero(v.Type()))
		return
	}
	s := reflect.MakeSlice(v.Type(), 0, len(n.Content))
	for i, item := range n.Content {
		// A bad element still takes its place, so later elements keep
		// their indices in problem paths.
		elem := elemDefault(v.Type().Elem())
		d.value(item, elem, fmt.Sprintf("%s[%d]", path, i))
		s = reflect.Append(s, elem)
	}
	v.Set(s)
}

// scalar returns n's text, or reports that path wanted what.
func (d *decoder) scalar(n *yaml.Node, path, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.bad(path, "must be "+what+", not "+kindName(n), nil)
		return "", false
	}
	return n.Value, true
}

// mapping decodes the keys of n into the struct v; false when n is not a
// mapping.
func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string) bool {
	if n = d.resolve(n); n == nil {
		return false
	}
	if n.Kind != yaml.MappingNode {
		what := "must be a mapping of keys"
		if path != "" && n.Kind == yaml.ScalarNode && n.Value == "" {
			what += " (indent the keys below it)"
		}
		d.bad(path, what+", not "+kindName(n), scalarValue(n))
		return false
	}
	fields := fieldsByKey(v.Type())
	// YAML merge keys (<<: *anchor) first, so the mapping's own keys win.
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			d.merge(n.Content[i+1], v, path)
		}
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := d.resolve(n.Content[i])
		if k == nil {
			return true
		}
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.bad(path, fmt.Sprintf("line %d: a key must be a plain word, not %s", k.Line, kindName(k)), nil)
			continue
		}
		kp := joinKey(path, k.Value)
		if line, dup := seen[k.Value]; dup {
			d.bad(kp, fmt.Sprintf("repeated key (first on line %d)", line), nil)
			continue
		}
		seen[k.Value] = k.Line
		idx, ok := fields[k.Value]
		if !ok {
			d.bad(kp, "unknown key", nil)
			continue
		}
		d.value(n.Content[i+1], v.Field(idx), kp)
	}
	return true
}

// merge applies a merge key's value: one mapping, or a list of them where
// the earlier wins.
func (d *decoder) merge(n *yaml.Node, v reflect.Value, path string) {
	if n = d.resolve(n); n == nil {
		return
	}
	if n.Kind == yaml.SequenceNode {
		for i := len(n.Content) - 1; i >= 0; i-- {
			d.mapping(n.Content[i], v, path)
		}
		return
	}
	d.mapping(n, v, path)
}

// fieldsByKey maps the YAML keys of struct type t to field indices.
func fieldsByKey(t reflect.Type) map[string]int {
	m := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			m[name] = i
		}
	}
	return m
}

// elemDefault is the starting value of a list element or optional section.
func elemDefault(t reflect.Type) reflect.Value {
	v := reflect.New(t).Elem()
	switch t {
	case reflect.TypeFor[POS]():
		v.Set(reflect.ValueOf(defaultPOS()))
	case reflect.TypeFor[Display]():
		v.Set(reflect.ValueOf(defaultDisplay()))
	case reflect.TypeFor[Printer]():
		v.Set(reflect.ValueOf(defaultPrinter()))
	}
	return v
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.ShortTag() == "!!str" {
			return "a string"
		}
		return "a value"
	}
	return "an empty value"
}

func scalarValue(n *yaml.Node) *string {
	if n.Kind == yaml.ScalarNode {
		return quote(n.Value)
	}
	return nil
}

// joinKey appends key to path; a key that is not a plain word (it can only
// be an unknown one) is quoted so the path stays readable.
func joinKey(path, key string) string {
	if !isWord(key) {
		return path + "[" + *quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

// parseSize reads "64MiB", "512KiB", "1GiB", "1048576" or "1048576B".
func parseSize(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 || i > 18 {
		return 0, false
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	if err != nil {
		return 0, false
	}
	var mult int64
	switch strings.TrimSpace(s[i:]) {
	case "", "B":
		mult = 1
	case "KiB":
		mult = 1 << 10
	case "MiB":
		mult = 1 << 20
	case "GiB":
		mult = 1 << 30
	case "TiB":
		mult = 1 << 40
	default:
		return 0, false
	}
	if n > math.MaxInt64/mult {
		return 0, false
	}
	return n * mult, true
}

// formatSize writes n in the largest binary unit that divides it.
func formatSize(n int64) string {
	for _, u := range []struct {
		name string
		size int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n != 0 && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10)
}

// parsePoint reads "800x480".
func parsePoint(s string) (image.Point, bool) {
	w, h, ok := strings.Cut(strings.TrimSpace(s), "x")
	if !ok {
		return image.Point{}, false
	}
	x, err1 := strconv.Atoi(w)
	y, err2 := strconv.Atoi(h)
	if err1 != nil || err2 != nil || x < 0 || y < 0 || strings.HasPrefix(w, "+") || strings.HasPrefix(h, "+") {
		return image.Point{}, false
	}
	return image.Point{X: x, Y: y}, true
}

// isWord reports whether s is non-empty and all of A-Za-z0-9, '_' and '-'.
func isWord(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
