package config

import (
	"image"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// The documented example is loaded here so it never rots.
const examplePath = "../../configs/posagent.yaml"

func TestExampleLoads(t *testing.T) {
	c, err := Load(examplePath)
	if err != nil {
		t.Fatalf("the example has problems:\n%v", err)
	}
	if len(c.POS) != 2 || c.StoreID != "S001" {
		t.Fatalf("example decoded to %+v", c)
	}
	// The example spells out the defaults its comments name: they must be
	// the code's.
	want := defaults()
	want.StoreID, want.StoreName = c.StoreID, c.StoreName
	want.POS = c.POS
	want.fillDerived()
	if !reflect.DeepEqual(c, want) {
		t.Errorf("example top-level values differ from the defaults:\n got %+v\nwant %+v", c, want)
	}
	p := c.POS[0]
	wantPOS := defaultPOS()
	wantPOS.ExternalPOSID, wantPOS.ExpirationTime, wantPOS.Expiration = p.ExternalPOSID, p.ExpirationTime, p.Expiration
	wantPOS.Displays, wantPOS.Printer = p.Displays, p.Printer
	if !reflect.DeepEqual(p, wantPOS) {
		t.Errorf("example pos[0] differs from the defaults:\n got %+v\nwant %+v", p, wantPOS)
	}
	if p.Expiration != 15*time.Minute {
		t.Errorf("pos[0] expiration = %v, want 15m", p.Expiration)
	}
	wantPrinter := defaultPrinter()
	wantPrinter.Transport, wantPrinter.Device = "serial", "/dev/ttyUSB0"
	if *p.Printer != wantPrinter {
		t.Errorf("example pos[0].printer = %+v, want the defaults %+v", *p.Printer, wantPrinter)
	}
	if got := p.Displays[1].Size; got != (image.Point{X: DefaultPNGWidth, Y: DefaultPNGHeight}) {
		t.Errorf("png size %v", got)
	}
}

// TestExampleHasEveryKey walks Config with reflect and demands that every
// key appears in the example, with a comment, so a new key cannot ship
// undocumented.
func TestExampleHasEveryKey(t *testing.T) {
	data, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	present := map[string]bool{}   // key paths, list indices as []
	commented := map[string]bool{} // key paths with a comment at their first appearance
	var walk func(n *yaml.Node, path string, parentCommented bool)
	walk = func(n *yaml.Node, path string, parentCommented bool) {
		switch n.Kind {
		case yaml.DocumentNode:
			walk(n.Content[0], path, false)
		case yaml.SequenceNode:
			for _, c := range n.Content {
				walk(c, path+"[]", parentCommented)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				kp := k.Value
				if path != "" {
					kp = path + "." + k.Value
				}
				// A comment above "- key:" belongs to the list item.
				has := k.HeadComment != "" || k.LineComment != "" || v.LineComment != "" ||
					(i == 0 && n.HeadComment != "") || (n.Style&yaml.FlowStyle != 0 && parentCommented)
				if !present[kp] {
					commented[kp] = has
				}
				present[kp] = true
				walk(v, kp, has)
			}
		}
	}
	walk(&doc, "", false)
	for _, key := range structKeys(reflect.TypeFor[Config](), "") {
		if !present[key] {
			t.Errorf("configs/posagent.yaml lacks key %s", key)
		} else if !commented[key] {
			t.Errorf("configs/posagent.yaml does not comment key %s where it first appears", key)
		}
	}
}

// structKeys lists the key paths of t's leaves and sections.
func structKeys(t reflect.Type, path string) []string {
	var keys []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		kp := name
		if path != "" {
			kp = path + "." + name
		}
		keys = append(keys, kp)
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Slice {
			ft, kp = ft.Elem(), kp+"[]"
		}
		if ft.Kind() == reflect.Struct && ft != reflect.TypeFor[image.Point]() {
			keys = append(keys, structKeys(ft, kp)...)
		}
	}
	return keys
}
