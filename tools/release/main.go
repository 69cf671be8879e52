// Command release builds posagent for the store machines and packages it:
// static (CGO_ENABLED=0) binaries for linux/amd64, linux/arm64 (64-bit
// Raspberry Pi OS) and linux/arm with GOARM=6 (every 32-bit Pi, the Zero
// and 1 included), version and commit stamped, and one .deb per
// architecture (amd64, arm64, armhf), all written to dist/ with a
// SHA256SUMS file.
//
// It lives in its own module so that nfpm, used as a library for the .debs,
// never becomes a dependency of posagent itself; the binaries are built by
// running `go build` on the main module. Run it from the repository (any
// directory inside it):
//
//	make release VERSION=1.2.3
//	go -C tools run ./release -version 1.2.3
//
// Flags: -version (plain semver; default the v-tag on HEAD, else
// 0.0.0-dev), -commit (default the short HEAD hash), -out (default
// <repo>/dist), -arch (Debian names, default amd64,arm64,armhf), -deb
// (default true; false builds the binaries only).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "release:", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("release", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ver := fs.String("version", "", "version, plain semver (1.2.3); default the v-tag on HEAD, else "+devVersion)
	commit := fs.String("commit", "", "commit stamped into the binaries; default the short HEAD hash")
	out := fs.String("out", "", "output directory; default <repo>/dist")
	arch := fs.String("arch", "amd64,arm64,armhf", "comma-separated Debian architectures to build")
	deb := fs.Bool("deb", true, "also build the .deb packages")
	root := fs.String("root", "", "repository root; default found from the working directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	o := options{Version: *ver, Commit: *commit, Out: *out, Root: *root, Debs: *deb, Log: stdout}
	for a := range strings.SplitSeq(*arch, ",") {
		if a = strings.TrimSpace(a); a != "" {
			o.Archs = append(o.Archs, a)
		}
	}
	if o.Root == "" {
		wd, err := os.Getwd()
		if err != nil {
			return err
		}
		if o.Root, err = findRoot(wd); err != nil {
			return err
		}
	}
	if o.Out != "" && !filepath.IsAbs(o.Out) {
		abs, err := filepath.Abs(o.Out)
		if err != nil {
			return err
		}
		o.Out = abs
	}
	_, err := release(ctx, o)
	return err
}
