package main

import (
	"bytes"
	"context"
	"errors"
	"image/png"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	gozxingqr "github.com/makiuchi-d/gozxing/qrcode"
)

func TestParse(t *testing.T) {
	o, err := parse(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.figures) != 3 || o.pos != 10 || o.sales != 10000 || o.starts != 7 || o.piFlow != flowCancel {
		t.Errorf("defaults = %+v", o)
	}
	for _, args := range [][]string{
		{"-figures", "sizes,rss"},
		{"-figures", ""},
		{"-pos", "0"},
		{"-pos", "100"},
		{"-pos", "10", "-sales", "9"},
		{"-starts", "0"},
		{"-pi-flow", "pay"},
		{"stray"},
	} {
		if _, err := parse(args, io.Discard); err == nil {
			t.Errorf("parse(%q) accepted", args)
		}
	}
}

func TestProcReaders(t *testing.T) {
	m, err := readMemory(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if m.RSS <= 0 || m.HWM < m.RSS {
		t.Errorf("memory = %+v, want 0 < RSS <= HWM", m)
	}
	if _, err := cpuTime(os.Getpid()); err != nil {
		t.Fatal(err)
	}
	if _, err := readMemory(-1); err == nil {
		t.Error("readMemory(-1) succeeded")
	}
}

func TestLineWatch(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := &lineWatch{f: f}
	early := w.watch("ready")
	io.WriteString(w, "starting\nserver is rea")
	select {
	case <-early:
		t.Fatal("signalled on a partial line")
	default:
	}
	io.WriteString(w, "dy now\n")
	select {
	case <-early:
	default:
		t.Fatal("not signalled once the line was complete")
	}
	select {
	case <-w.watch("starting"): // printed before the watch began
	default:
		t.Fatal("a line printed before watch was missed")
	}
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "starting\nserver is ready now\n" {
		t.Errorf("log = %q", b)
	}
}

func TestNotifySocket(t *testing.T) {
	ns, err := listenNotify(filepath.Join(t.TempDir(), "notify.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer ns.close()
	c, err := net.Dial("unixgram", ns.path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A watchdog ping alone is not readiness; READY=1 within a datagram is.
	for _, msg := range []string{"WATCHDOG=1", "STATUS=up\nREADY=1"} {
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	alive := &child{name: "fake", done: make(chan struct{})}
	if _, err := ns.waitReady(alive, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	exited := &child{name: "fake", done: make(chan struct{})}
	close(exited.done)
	if _, err := ns.waitReady(exited, 10*time.Second); err == nil || !strings.Contains(err.Error(), "exited") {
		t.Errorf("waitReady after exit = %v", err)
	}
}

func TestAgentConfig(t *testing.T) {
	dir := t.TempDir()
	f, err := agentConfig(dir, "http://127.0.0.1:1", "", 3)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(f.config)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"store_id: BENCH\n", "base_url: http://127.0.0.1:1\n", "url: \"\"\n",
		"sync: always\n", "- external_pos_id: POS01\n", "- external_pos_id: POS03\n"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("config lacks %q:\n%s", want, b)
		}
	}
	if !strings.HasPrefix(f.registerURL, "nats://127.0.0.1:") || !strings.HasPrefix(f.httpAddr, "127.0.0.1:") {
		t.Errorf("files = %+v", f)
	}
	ext, err := agentConfig(dir, "http://127.0.0.1:1", "nats://127.0.0.1:4222", 1)
	if err != nil {
		t.Fatal(err)
	}
	if ext.registerURL != "nats://127.0.0.1:4222" {
		t.Errorf("external registerURL = %q", ext.registerURL)
	}
}

func TestSpread(t *testing.T) {
	ms := time.Millisecond
	if got := spread([]time.Duration{30 * ms, 10 * ms, 20 * ms}); got != "20.0 ms (10.0-30.0)" {
		t.Errorf("spread = %q", got)
	}
	if got := mib(-1); got != "-" {
		t.Errorf("mib(-1) = %q", got)
	}
}

func TestStoreConfigDevices(t *testing.T) {
	dir := t.TempDir()
	f, err := storeConfig(dir, "http://127.0.0.1:1", "", 1, true)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(f.config)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"type: png\n", "path: " + filepath.Join(dir, "qr-POS01.png") + "\n",
		"transport: file\n", "device: " + filepath.Join(dir, "receipts-POS01.bin") + "\n"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("config lacks %q:\n%s", want, b)
		}
	}
}

func TestParsePerfInstructions(t *testing.T) {
	for in, want := range map[string]int64{
		"\n# started on x\n\n123456789,,instructions,1000,100.00,,\n": 123456789,
		"<not supported>,,instructions,0,100.00,,\n":                  -1,
		"123,,cycles,1,100.00,,\n":                                    -1,
		"":                                                            -1,
	} {
		if got := parsePerfInstructions(in); got != want {
			t.Errorf("parsePerfInstructions(%q) = %d, want %d", in, got, want)
		}
	}
}

func TestParseFsyncs(t *testing.T) {
	dir := t.TempDir()
	trace := filepath.Join(dir, "fsync.strace")
	text := "101 fsync(7<" + dir + "/nats/jetstream/$G/streams/POS_CMD/msgs/12.blk>) = 0\n" +
		"102 fsync(8<" + dir + "/nats/jetstream/$G/streams/POS_CMD/msgs/13.blk>) = 0\n" +
		"103 fdatasync(9</elsewhere/x1>) = 0\n" +
		// A call another traced thread interrupts is split in two lines
		// (strace -f): it counts once.
		"104 fsync(10<" + dir + "/nats/jetstream/$G/streams/POS_EVT/msgs/3.blk> <unfinished ...>\n" +
		"101 fsync(7<" + dir + "/nats/jetstream/$G/streams/POS_CMD/msgs/12.blk>) = 0\n" +
		"104 <... fsync resumed>)              = 0\n" +
		// nats-server's small state files: written once per O_SYNC open.
		"105 openat(AT_FDCWD</>, \"" + dir + "/nats/jetstream/$G/streams/POS_CMD/obs/c/o.dat.tmp\", O_WRONLY|O_CREAT|O_TRUNC|O_SYNC|O_CLOEXEC, 0640) = 11<" + dir + "/x>\n" +
		"105 openat(AT_FDCWD</>, \"" + dir + "/nats/jetstream/$G/streams/POS_CMD/msgs/12.blk\", O_RDWR|O_CREAT|O_CLOEXEC, 0640) = 12<" + dir + "/y>\n" +
		"103 +++ exited with 0 +++\n"
	if err := os.WriteFile(trace, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(trace)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := parseFsyncs(f, dir)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"fsync nats/jetstream/$G/streams/POS_CMD/msgs/N.blk": 3, "fsync nats/jetstream/$G/streams/POS_EVT/msgs/N.blk": 1,
		"fdatasync /elsewhere/xN": 1, "O_SYNC write nats/jetstream/$G/streams/POS_CMD/obs/c/o.dat.tmp": 1}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("got %v, want %v", got, want)
		}
	}
}

// TestPiMemLimitIsTheUnits: the pi figure runs the agent with the memory
// limit the systemd unit sets, so it measures what a store runs.
func TestPiMemLimitIsTheUnits(t *testing.T) {
	root, err := findRoot()
	if err != nil {
		t.Fatal(err)
	}
	unit, err := os.ReadFile(filepath.Join(root, "deploy", "systemd", "posagent.service"))
	if err != nil {
		t.Fatal(err)
	}
	want := "Environment=GOMEMLIMIT=" + piMemLimit
	for line := range strings.Lines(string(unit)) {
		if strings.HasPrefix(line, "Environment=GOMEMLIMIT=") {
			if got := strings.TrimSpace(line); got != want {
				t.Fatalf("the unit sets %q, the pi figure %q", got, want)
			}
			return
		}
	}
	t.Fatal("the unit sets no GOMEMLIMIT")
}

// TestScreenWatch: a frame counts from its rename, only if it shows the
// QR asked for and went up after the sale was sent; none in time is
// errNotShown.
func TestScreenWatch(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "qr-POS01.png")
	w, err := watchScreen(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	show := func(text string) {
		t.Helper()
		m, err := gozxingqr.NewQRCodeWriter().Encode(text, gozxing.BarcodeFormat_QR_CODE, 200, 200, nil)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := png.Encode(&b, m); err != nil {
			t.Fatal(err)
		}
		tmp := filepath.Join(dir, ".qr-POS01.png.tmp")
		if err := os.WriteFile(tmp, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	show("sale one")
	if _, err := w.await(ctx, time.Now().Add(time.Hour), "sale one", 100*time.Millisecond); !errors.Is(err, errNotShown) {
		t.Fatalf("a frame from before the sale counted: %v", err)
	}
	since := time.Now()
	show("sale one")
	if err := os.WriteFile(filepath.Join(dir, ".other"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, ".other"), filepath.Join(dir, "other.png")); err != nil {
		t.Fatal(err) // another file renamed into place: not the display's
	}
	show("something else")
	show("sale two")
	at, err := w.await(ctx, since, "sale two", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if at.Before(since) {
		t.Errorf("shown at %v, before the sale (%v)", at, since)
	}
	if _, err := w.await(ctx, since, "sale one", 100*time.Millisecond); !errors.Is(err, errNotShown) {
		t.Errorf("a frame already passed over was found again: %v", err)
	}
}
