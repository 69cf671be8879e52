package main

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// sdDocDevices maps every device path the README, docs/, configs/ and
// deploy/ mention to the /proc/devices group names (DeviceAllow=char-NAME)
// it may resolve to. "closed" marks the pseudo devices DevicePolicy=closed
// always allows (/dev/null, the standard streams, ptys). A new path in the
// documentation fails TestSystemdDeviceAllowCoversDocumentedDevices until
// it is added here and, when needed, to the unit's allow list.
var sdDocDevices = map[string][]string{
	"/dev/null":          {"closed"},
	"/dev/stdin":         {"closed"},
	"/dev/fb":            {"fb"},
	"/dev/fb0":           {"fb"},
	"/dev/ttyUSB0":       {"ttyUSB"},
	"/dev/ttyACM0":       {"ttyACM"},
	"/dev/ttyAMA0":       {"ttyAMA"},
	"/dev/ttyS0":         {"ttyS"},
	"/dev/usb/lp":        {"usb"},
	"/dev/usb/lp0":       {"usb"},
	"/dev/serial/by-id/": {"ttyUSB", "ttyACM"},
	// The Pi's primary UART alias: the mini UART (ttyS0) on a Pi 3/4/Zero
	// W, the PL011 (ttyAMA0) on others.
	"/dev/serial0": {"ttyS", "ttyAMA"},
	"/dev/serial1": {"ttyS", "ttyAMA"},
}

// sdDocFiles lists the files whose device paths are checked.
func sdDocFiles(t *testing.T) []string {
	t.Helper()
	files := []string{"../../README.md"}
	for _, dir := range []string{"../../docs", "../../configs", "../../deploy"} {
		err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				files = append(files, p)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return files
}

// sdDevicePaths returns each /dev path mentioned in files, trimmed of
// globs and punctuation, with the first file naming it.
func sdDevicePaths(t *testing.T, files []string) map[string]string {
	t.Helper()
	re := regexp.MustCompile(`/dev/[A-Za-z0-9_/.*<>-]+`)
	found := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllString(string(b), -1) {
			p := strings.TrimRight(m, ".*<>-")
			if _, ok := found[p]; !ok {
				found[p] = f
			}
		}
	}
	return found
}

// sdAllowedGroups is the set of char-NAME groups the unit's DeviceAllow=
// lines grant read-write access to.
func sdAllowedGroups(t *testing.T) map[string]bool {
	t.Helper()
	allowed := map[string]bool{"closed": true}
	for _, v := range sdUnit(t, sdUnitPath)["Service.DeviceAllow"] {
		f := strings.Fields(v)
		if len(f) != 2 || !strings.HasPrefix(f[0], "char-") || !strings.Contains(f[1], "r") || !strings.Contains(f[1], "w") {
			t.Errorf("DeviceAllow=%s: want `char-NAME rw`", v)
			continue
		}
		allowed[strings.TrimPrefix(f[0], "char-")] = true
	}
	return allowed
}

// TestSystemdDeviceAllowCoversDocumentedDevices: every device path the
// documentation tells store IT to use can be opened under the unit's
// DevicePolicy=closed (a printer on /dev/ttyS0 was refused once).
func TestSystemdDeviceAllowCoversDocumentedDevices(t *testing.T) {
	allowed := sdAllowedGroups(t)
	paths := sdDevicePaths(t, sdDocFiles(t))
	if len(paths) < 5 {
		t.Fatalf("found only %d device paths in the documentation: %v", len(paths), paths)
	}
	for p, file := range paths {
		groups, ok := sdDocDevices[p]
		if !ok {
			t.Errorf("%s mentions %s: add it to sdDocDevices with its /proc/devices group(s)", file, p)
			continue
		}
		for _, g := range groups {
			if !allowed[g] {
				t.Errorf("%s mentions %s (group %s), but the unit has no DeviceAllow=char-%s rw", file, p, g, g)
			}
		}
	}
}

// TestSdDocDevicesMatchThisMachine checks the table against the kernel:
// each listed device that exists here as a character device belongs to
// the /proc/devices group the table names.
func TestSdDocDevicesMatchThisMachine(t *testing.T) {
	names := procCharDevices(t)
	checked := 0
	for p, groups := range sdDocDevices {
		var st syscall.Stat_t
		if slices.Contains(groups, "closed") || syscall.Stat(p, &st) != nil || st.Mode&syscall.S_IFMT != syscall.S_IFCHR {
			continue
		}
		major := int((st.Rdev >> 8) & 0xfff)
		if name := names[major]; !slices.Contains(groups, name) {
			t.Errorf("%s: major %d is %q in /proc/devices, the table says %q", p, major, name, groups)
		}
		checked++
	}
	t.Logf("%d documented devices exist here and match", checked)
}

// procCharDevices reads the character device majors from /proc/devices.
func procCharDevices(t *testing.T) map[int]string {
	t.Helper()
	f, err := os.Open("/proc/devices")
	if err != nil {
		t.Skipf("no /proc/devices: %v", err)
	}
	defer f.Close()
	names := map[int]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "Block devices:" {
			break
		}
		if n, name, ok := strings.Cut(strings.TrimSpace(line), " "); ok {
			if major, err := strconv.Atoi(n); err == nil {
				names[major] = name
			}
		}
	}
	return names
}
