package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// target is a platform posagent ships for, built as tools/release builds
// it (static, stripped, trimmed paths).
type target struct {
	name string // as in the table
	env  []string
}

func targets() []target {
	return []target{
		{"linux/arm64 (64-bit Pi OS)", []string{"GOOS=linux", "GOARCH=arm64", "GOARM64=v8.0"}},
		{"linux/arm GOARM=6 (32-bit Pi, Zero, 1)", []string{"GOOS=linux", "GOARCH=arm", "GOARM=6"}},
		{"linux/amd64", []string{"GOOS=linux", "GOARCH=amd64", "GOAMD64=v1"}},
	}
}

// goBuild runs `go build` in dir with the release flags for env's target.
func (d *driver) goBuild(ctx context.Context, dir, out, pkg string, env []string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Env = append(cmd.Env, env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s (%s): %w\n%s", pkg, strings.Join(env, " "), err, b)
	}
	return nil
}

// posagentBinary returns the binary to run: -posagent, else one built for
// this machine.
func (d *driver) posagentBinary(ctx context.Context) (string, error) {
	if d.o.posagent != "" {
		return filepath.Abs(d.o.posagent)
	}
	out := filepath.Join(d.work, "bin", "posagent")
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	fmt.Fprintln(d.log, "building posagent")
	return out, d.goBuild(ctx, d.o.root, out, "./cmd/posagent", []string{"GOOS=" + runtime.GOOS, "GOARCH=" + runtime.GOARCH})
}

// natsServerBinary returns -nats-server, else one built from the version
// this module pins (go.mod's tool directive).
func (d *driver) natsServerBinary(ctx context.Context) (string, error) {
	if d.o.natsServer != "" {
		return filepath.Abs(d.o.natsServer)
	}
	out := filepath.Join(d.work, "bin", "nats-server")
	if _, err := os.Stat(out); err == nil {
		return out, nil
	}
	fmt.Fprintln(d.log, "building nats-server")
	return out, d.goBuild(ctx, filepath.Join(d.o.root, "tools"), out, "github.com/nats-io/nats-server/v2",
		[]string{"GOOS=" + runtime.GOOS, "GOARCH=" + runtime.GOARCH})
}

// sizes builds posagent for every target and tabulates the file sizes.
func (d *driver) sizes(ctx context.Context) error {
	dir, err := d.dir("sizes")
	if err != nil {
		return err
	}
	fmt.Fprintln(d.out, "### Binary sizes")
	fmt.Fprintln(d.out)
	fmt.Fprintln(d.out, "`CGO_ENABLED=0 go build -trimpath -ldflags \"-s -w\" ./cmd/posagent`, per target:")
	fmt.Fprintln(d.out)
	fmt.Fprintln(d.out, "| target | environment | bytes | MiB |")
	fmt.Fprintln(d.out, "| --- | --- | --- | --- |")
	for i, t := range targets() {
		fmt.Fprintln(d.log, "building", t.name)
		out := filepath.Join(dir, fmt.Sprintf("posagent-%d", i))
		if err := d.goBuild(ctx, d.o.root, out, "./cmd/posagent", t.env); err != nil {
			return err
		}
		st, err := os.Stat(out)
		if err != nil {
			return err
		}
		fmt.Fprintf(d.out, "| %s | `%s` | %d | %.1f |\n", t.name, strings.Join(t.env, " "), st.Size(), float64(st.Size())/(1<<20))
	}
	fmt.Fprintln(d.out)
	return nil
}
