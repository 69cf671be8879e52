package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	mainModule    = "github.com/posagent/posagent"
	versionPkg    = mainModule + "/internal/version"
	devVersion    = "0.0.0-dev"
	unknownCommit = "unknown"
)

// semver is plain semver without a leading v, as internal/version wants
// it (the NATS micro service refuses anything else).
var semver = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)

// target is one platform posagent ships for.
type target struct {
	DebArch string // Debian architecture: the -arch names and the .deb's
	Suffix  string // binary file name: posagent_<version>_linux_<Suffix>
	GOARCH  string
	// Env pins the architecture level, so a GOAMD64/GOARM set in the
	// caller's environment cannot leak into a release.
	Env []string
}

// targets are the supported platforms. linux/arm is built for ARMv6 because
// Debian's armhf on a Raspberry Pi must also run on the Zero and 1 (ARMv6);
// a GOARM=7 binary dies there with "Illegal instruction".
func targets() []target {
	return []target{
		{DebArch: "amd64", Suffix: "amd64", GOARCH: "amd64", Env: []string{"GOAMD64=v1"}},
		{DebArch: "arm64", Suffix: "arm64", GOARCH: "arm64", Env: []string{"GOARM64=v8.0"}},
		{DebArch: "armhf", Suffix: "armv6", GOARCH: "arm", Env: []string{"GOARM=6"}},
	}
}

func findTarget(debArch string) (target, error) {
	var names []string
	for _, t := range targets() {
		if t.DebArch == debArch {
			return t, nil
		}
		names = append(names, t.DebArch)
	}
	return target{}, fmt.Errorf("-arch %q: unknown, want one of %s", debArch, strings.Join(names, ", "))
}

// options configure one release run.
type options struct {
	Root    string   // repository root (the main module)
	Out     string   // output directory; "" = <Root>/dist
	Version string   // plain semver; "" = from git, else devVersion
	Commit  string   // "" = short HEAD hash, else unknownCommit
	Archs   []string // Debian architectures; nil = all targets
	Debs    bool     // also build the .deb packages
	// MTime is the time stamped into the packages; zero = SOURCE_DATE_EPOCH,
	// else the HEAD commit time, else now.
	MTime time.Time
	Log   io.Writer // progress lines; nil = discarded
}

// artifact is one file release wrote.
type artifact struct {
	Path   string
	Target target
	Kind   string // "binary" or "deb"
}

// release builds every requested binary (and .deb), writes SHA256SUMS and
// returns what it wrote.
func release(ctx context.Context, o options) ([]artifact, error) {
	if err := o.complete(ctx); err != nil {
		return nil, err
	}
	var ts []target
	for _, a := range o.Archs {
		t, err := findTarget(a)
		if err != nil {
			return nil, err
		}
		ts = append(ts, t)
	}
	if err := os.MkdirAll(o.Out, 0o755); err != nil {
		return nil, err
	}
	fmt.Fprintf(o.Log, "posagent %s (%s) -> %s\n", o.Version, o.Commit, o.Out)
	var out []artifact
	for _, t := range ts {
		bin, err := buildBinary(ctx, o, t)
		if err != nil {
			return nil, err
		}
		out = append(out, artifact{Path: bin, Target: t, Kind: "binary"})
		fmt.Fprintln(o.Log, "  built", filepath.Base(bin))
		if !o.Debs {
			continue
		}
		deb, err := packageDeb(o, t, bin)
		if err != nil {
			return nil, err
		}
		out = append(out, artifact{Path: deb, Target: t, Kind: "deb"})
		fmt.Fprintln(o.Log, "  packaged", filepath.Base(deb))
	}
	if err := writeChecksums(filepath.Join(o.Out, "SHA256SUMS"), out); err != nil {
		return nil, err
	}
	return out, nil
}

// complete fills the defaults and checks the rest.
func (o *options) complete(ctx context.Context) error {
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Root == "" {
		return errors.New("no repository root")
	}
	if o.Out == "" {
		o.Out = filepath.Join(o.Root, "dist")
	}
	if len(o.Archs) == 0 {
		for _, t := range targets() {
			o.Archs = append(o.Archs, t.DebArch)
		}
	}
	if o.Version == "" {
		o.Version = versionFromTags(gitLines(ctx, o.Root, "tag", "--points-at", "HEAD"))
	}
	if v := strings.TrimPrefix(o.Version, "v"); semver.MatchString(v) {
		o.Version = v
	} else {
		return fmt.Errorf("-version %q: want plain semver like 1.2.3 or 1.2.3-rc.1", o.Version)
	}
	if o.Commit == "" {
		o.Commit = unknownCommit
		if l := gitLines(ctx, o.Root, "rev-parse", "--short=12", "HEAD"); len(l) == 1 {
			o.Commit = l[0]
		}
	}
	if strings.ContainsAny(o.Commit, " \t\n'\"") {
		return fmt.Errorf("-commit %q: must not contain spaces or quotes", o.Commit)
	}
	if o.MTime.IsZero() {
		o.MTime = sourceTime(ctx, o.Root)
	}
	return nil
}

// versionFromTags picks the highest vX.Y.Z tag (a release tag on HEAD),
// else devVersion.
func versionFromTags(tags []string) string {
	best := ""
	for _, tag := range tags {
		v, ok := strings.CutPrefix(tag, "v")
		if !ok || !semver.MatchString(v) {
			continue
		}
		if best == "" || semverLess(best, v) {
			best = v
		}
	}
	if best == "" {
		return devVersion
	}
	return best
}

// semverLess orders release numbers; a pre-release sorts before its
// release, and pre-releases among themselves by plain string order (enough
// to pick among tags on one commit).
func semverLess(a, b string) bool {
	ma, mb := semver.FindStringSubmatch(a), semver.FindStringSubmatch(b)
	for i := 1; i <= 3; i++ {
		x, _ := strconv.Atoi(ma[i])
		y, _ := strconv.Atoi(mb[i])
		if x != y {
			return x < y
		}
	}
	switch {
	case ma[4] == mb[4]:
		return false
	case ma[4] == "":
		return false
	case mb[4] == "":
		return true
	}
	return ma[4] < mb[4]
}

// sourceTime is the time stamped into packages, so that two builds of one
// commit give the same bytes.
func sourceTime(ctx context.Context, root string) time.Time {
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return time.Unix(n, 0).UTC()
		}
	}
	if l := gitLines(ctx, root, "log", "-1", "--format=%ct"); len(l) == 1 {
		if n, err := strconv.ParseInt(l[0], 10, 64); err == nil {
			return time.Unix(n, 0).UTC()
		}
	}
	return time.Now().UTC().Truncate(time.Second)
}

// gitLines runs git in root; nil when git or the repository is missing,
// because a source tarball without .git must still build.
func gitLines(ctx context.Context, root string, args ...string) []string {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", root}, args...)...)
	out, err := cmd.Output()
	if err != nil {
		return nil
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// findRoot walks up from dir to the directory whose go.mod declares the
// main module (tools/ has its own go.mod, which is skipped).
func findRoot(dir string) (string, error) {
	for d := dir; ; {
		data, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && modulePath(data) == mainModule {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("no go.mod of %s in %s or above: run inside the posagent repository or pass -root", mainModule, dir)
		}
		d = parent
	}
}

func modulePath(gomod []byte) string {
	for l := range strings.SplitSeq(string(gomod), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(l), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return ""
}

// binaryName is dist's name for one target's binary.
func binaryName(version string, t target) string {
	return fmt.Sprintf("posagent_%s_linux_%s", version, t.Suffix)
}

// buildEnv is the environment of `go build` for t: the caller's, minus
// anything that would change what is built (GOFLAGS=-race, GOARM=7, ...).
func buildEnv(environ []string, t target) []string {
	drop := []string{"CGO_ENABLED", "GOOS", "GOARCH", "GOARM", "GOAMD64", "GOARM64", "GOFLAGS", "GOEXPERIMENT"}
	var env []string
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(drop, k) {
			env = append(env, kv)
		}
	}
	env = append(env, "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+t.GOARCH)
	return append(env, t.Env...)
}

// buildBinary runs `go build` of cmd/posagent for t and checks the result's
// build info: a wrong GOARM would only show on a Pi Zero in a store.
func buildBinary(ctx context.Context, o options, t target) (string, error) {
	out := filepath.Join(o.Out, binaryName(o.Version, t))
	ldflags := fmt.Sprintf("-s -w -X %s.version=%s -X %s.commit=%s", versionPkg, o.Version, versionPkg, o.Commit)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-ldflags", ldflags, "-o", out, "./cmd/posagent")
	cmd.Dir = o.Root
	cmd.Env = buildEnv(os.Environ(), t)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build for %s: %w\n%s", t.DebArch, err, stderr.Bytes())
	}
	if err := checkBuildInfo(out, t); err != nil {
		return "", err
	}
	return out, nil
}

// checkBuildInfo compares the settings recorded in a binary with t's.
func checkBuildInfo(path string, t target) error {
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	want := map[string]string{"GOOS": "linux", "GOARCH": t.GOARCH, "CGO_ENABLED": "0"}
	for _, kv := range t.Env {
		k, v, _ := strings.Cut(kv, "=")
		want[k] = v
	}
	got := map[string]string{}
	for _, s := range bi.Settings {
		got[s.Key] = s.Value
	}
	for k, v := range want {
		if got[k] != v {
			return fmt.Errorf("%s: built with %s=%q, want %q", filepath.Base(path), k, got[k], v)
		}
	}
	return nil
}

// writeChecksums writes `sha256sum -c` input for the artifacts.
func writeChecksums(path string, arts []artifact) error {
	var b strings.Builder
	for _, a := range arts {
		sum, err := fileSHA256(a.Path)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s  %s\n", sum, filepath.Base(a.Path))
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
