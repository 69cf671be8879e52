package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// repoRoot is the main module's directory, two levels above this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root, err := findRoot(wd)
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// needTool skips when a program is missing, except in CI, which installs
// everything these tests use.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s not found, and CI=true: CI must install it (%v)", name, err)
	}
	t.Skipf("%s not found (%v): skipping; CI installs it", name, err)
	return ""
}

func runCmd(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestTargets(t *testing.T) {
	tests := []struct {
		debArch, suffix, goarch, env string
	}{
		{"amd64", "amd64", "amd64", "GOAMD64=v1"},
		{"arm64", "arm64", "arm64", "GOARM64=v8.0"},
		// armhf must run on a Pi Zero/1: ARMv6, not Debian's usual ARMv7.
		{"armhf", "armv6", "arm", "GOARM=6"},
	}
	for _, tt := range tests {
		t.Run(tt.debArch, func(t *testing.T) {
			tg, err := findTarget(tt.debArch)
			if err != nil {
				t.Fatal(err)
			}
			if tg.Suffix != tt.suffix || tg.GOARCH != tt.goarch || !slices.Contains(tg.Env, tt.env) {
				t.Errorf("findTarget(%q) = %+v, want suffix %s, GOARCH %s, env %s", tt.debArch, tg, tt.suffix, tt.goarch, tt.env)
			}
		})
	}
	if _, err := findTarget("armel"); err == nil || !strings.Contains(err.Error(), "armhf") {
		t.Errorf("findTarget(armel) error = %v, want one listing the known architectures", err)
	}
}

func TestVersionFromTags(t *testing.T) {
	tests := []struct {
		tags []string
		want string
	}{
		{nil, devVersion},
		{[]string{"release-1"}, devVersion},
		{[]string{"1.2.3"}, devVersion}, // release tags carry the v
		{[]string{"v1.2"}, devVersion},
		{[]string{"v1.2.3"}, "1.2.3"},
		{[]string{"v1.2.3-rc.1", "v1.2.3"}, "1.2.3"},
		{[]string{"v1.2.3", "v1.2.3-rc.1"}, "1.2.3"},
		{[]string{"v1.10.0", "v1.9.9"}, "1.10.0"},
		{[]string{"v2.0.0-rc.1", "v2.0.0-rc.2"}, "2.0.0-rc.2"},
	}
	for _, tt := range tests {
		if got := versionFromTags(tt.tags); got != tt.want {
			t.Errorf("versionFromTags(%q) = %q, want %q", tt.tags, got, tt.want)
		}
	}
}

func TestOptionsCompleteRejects(t *testing.T) {
	tests := []struct {
		name string
		o    options
		want string
	}{
		{"no root", options{Version: "1.2.3"}, "no repository root"},
		{"not semver", options{Root: "/x", Version: "1.2"}, "plain semver"},
		{"garbage", options{Root: "/x", Version: "latest"}, "plain semver"},
		{"commit with space", options{Root: "/x", Version: "1.2.3", Commit: "a b"}, "-commit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.o.complete(context.Background())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("complete() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
	o := options{Root: "/x", Version: "v1.2.3", Commit: "abc", MTime: time.Unix(1, 0)}
	if err := o.complete(context.Background()); err != nil || o.Version != "1.2.3" || o.Out != "/x/dist" || len(o.Archs) != 3 {
		t.Errorf("complete() = %v, options %+v: want version 1.2.3, out /x/dist, 3 archs", err, o)
	}
}

func TestFindRoot(t *testing.T) {
	root := repoRoot(t)
	data, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil || modulePath(data) != mainModule {
		t.Fatalf("findRoot found %s, whose go.mod is not %s (%v)", root, mainModule, err)
	}
	// tools/ has its own go.mod, which must be passed over.
	if got, err := findRoot(filepath.Join(root, "tools")); err != nil || got != root {
		t.Errorf("findRoot(tools) = %q, %v; want %q", got, err, root)
	}
	if _, err := findRoot(t.TempDir()); err == nil {
		t.Error("findRoot outside the repository succeeded")
	}
}

func TestBuildEnv(t *testing.T) {
	arm, _ := findTarget("armhf")
	env := buildEnv([]string{"HOME=/h", "GOFLAGS=-race", "GOARM=7", "CGO_ENABLED=1", "GOOS=darwin", "GOCACHE=/c"}, arm)
	for _, want := range []string{"HOME=/h", "GOCACHE=/c", "CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm", "GOARM=6"} {
		if !slices.Contains(env, want) {
			t.Errorf("buildEnv lacks %s: %q", want, env)
		}
	}
	for _, bad := range []string{"GOFLAGS=-race", "GOARM=7", "CGO_ENABLED=1", "GOOS=darwin"} {
		if slices.Contains(env, bad) {
			t.Errorf("buildEnv kept the caller's %s: %q", bad, env)
		}
	}
}

// debFields reads control fields with dpkg-deb.
func debFields(t *testing.T, deb string) map[string]string {
	t.Helper()
	out := runCmd(t, "dpkg-deb", "--field", deb, "Package", "Version", "Architecture", "Depends", "Pre-Depends", "Maintainer")
	fields := map[string]string{}
	for l := range strings.SplitSeq(out, "\n") {
		if k, v, ok := strings.Cut(l, ": "); ok {
			fields[k] = v
		}
	}
	return fields
}

// debEntry is one line of `dpkg-deb --contents`.
type debEntry struct{ mode, owner string }

func debContentsOf(t *testing.T, deb string) map[string]debEntry {
	t.Helper()
	out := runCmd(t, "dpkg-deb", "--contents", deb)
	entries := map[string]debEntry{}
	for l := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
		f := strings.Fields(l)
		if len(f) < 6 {
			t.Fatalf("dpkg-deb --contents line %q", l)
		}
		entries[strings.TrimSuffix(strings.TrimPrefix(f[5], "."), "/")] = debEntry{mode: f[0], owner: f[1]}
	}
	return entries
}

// standinBinary builds an empty Go program (no modules linked), for
// packaging without building posagent.
func standinBinary(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nfunc main() {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module standin\n\ngo 1.26\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "posagent-standin")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the stand-in: %v\n%s", err, out)
	}
	return bin
}

// TestPackageVersionAndFiles packages a stand-in binary (no build): the
// control fields, the files with their modes, the conffile and the scripts.
func TestPackageVersionAndFiles(t *testing.T) {
	needTool(t, "dpkg-deb")
	root := repoRoot(t)
	tests := []struct {
		version, debArch, wantVersion, wantFile string
	}{
		{"1.2.3", "amd64", "1.2.3", "posagent_1.2.3_amd64.deb"},
		// ~ sorts before the release in Debian, as -rc.1 does in semver.
		{"1.2.3-rc.1", "armhf", "1.2.3~rc.1", "posagent_1.2.3~rc.1_armhf.deb"},
		{"0.0.0-dev", "arm64", "0.0.0~dev", "posagent_0.0.0~dev_arm64.deb"},
	}
	for _, tt := range tests {
		t.Run(tt.wantFile, func(t *testing.T) {
			dir := t.TempDir()
			bin := standinBinary(t)
			tg, err := findTarget(tt.debArch)
			if err != nil {
				t.Fatal(err)
			}
			o := options{Root: root, Out: dir, Version: tt.version, Commit: "abc", MTime: time.Unix(1700000000, 0)}
			if err := o.complete(context.Background()); err != nil {
				t.Fatal(err)
			}
			deb, err := packageDeb(o, tg, bin)
			if err != nil {
				t.Fatal(err)
			}
			if filepath.Base(deb) != tt.wantFile {
				t.Errorf("package file %s, want %s", filepath.Base(deb), tt.wantFile)
			}
			fields := debFields(t, deb)
			want := map[string]string{"Package": "posagent", "Version": tt.wantVersion, "Architecture": tt.debArch, "Depends": "adduser"}
			for k, v := range want {
				if fields[k] != v {
					t.Errorf("%s: %s = %q, want %q", tt.wantFile, k, fields[k], v)
				}
			}
			if _, ok := fields["Pre-Depends"]; ok {
				t.Errorf("unexpected Pre-Depends %q", fields["Pre-Depends"])
			}
			checkDebFiles(t, deb)
			checkDebControl(t, deb)
		})
	}
}

func checkDebFiles(t *testing.T, deb string) {
	t.Helper()
	got := debContentsOf(t, deb)
	want := map[string]debEntry{
		"/usr/bin/posagent":                                      {"-rwxr-xr-x", "root/root"},
		"/lib/systemd/system/posagent.service":                   {"-rw-r--r--", "root/root"},
		"/etc/posagent":                                          {"drwxr-x---", "root/root"},
		"/etc/posagent/posagent.yaml":                            {"-rw-r-----", "root/root"},
		"/usr/lib/modules-load.d/posagent.conf":                  {"-rw-r--r--", "root/root"},
		"/usr/share/doc/posagent/README.systemd.md":              {"-rw-r--r--", "root/root"},
		"/usr/share/doc/posagent/README.md":                      {"-rw-r--r--", "root/root"},
		"/usr/share/doc/posagent/copyright":                      {"-rw-r--r--", "root/root"},
		"/usr/share/doc/posagent/changelog.gz":                   {"-rw-r--r--", "root/root"},
		"/usr/share/lintian/overrides/posagent":                  {"-rw-r--r--", "root/root"},
		"/usr/share/man/man1/posagent.1.gz":                      {"-rw-r--r--", "root/root"},
		"/usr/share/doc/posagent/prometheus/posagent-alerts.yml": {"-rw-r--r--", "root/root"},
	}
	// Every document of docs/ ships, whatever their number.
	docs, err := filepath.Glob(filepath.Join(repoRoot(t), "docs", "*.md"))
	if err != nil || len(docs) == 0 {
		t.Fatalf("docs/*.md: %v (%d files)", err, len(docs))
	}
	for _, d := range docs {
		want["/usr/share/doc/posagent/docs/"+filepath.Base(d)] = debEntry{"-rw-r--r--", "root/root"}
	}
	for path, w := range want {
		if g, ok := got[path]; !ok {
			t.Errorf("%s missing from the package", path)
		} else if g != w {
			t.Errorf("%s: %s %s, want %s %s", path, g.mode, g.owner, w.mode, w.owner)
		}
	}
	for path, e := range got {
		if _, ok := want[path]; !ok && !strings.HasPrefix(e.mode, "d") {
			t.Errorf("unexpected file %s in the package", path)
		}
	}
}

// checkDebControl extracts the control area: the conffile list and the
// maintainer scripts, byte for byte from deploy/debian.
func checkDebControl(t *testing.T, deb string) {
	t.Helper()
	dir := t.TempDir()
	runCmd(t, "dpkg-deb", "--control", deb, dir)
	conffiles, err := os.ReadFile(filepath.Join(dir, "conffiles"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Fields(string(conffiles)); !slices.Equal(got, []string{"/etc/posagent/posagent.yaml"}) {
		t.Errorf("conffiles = %q, want only /etc/posagent/posagent.yaml", got)
	}
	root := repoRoot(t)
	for _, name := range []string{"postinst", "prerm", "postrm"} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("no %s in the package: %v", name, err)
			continue
		}
		want, err := os.ReadFile(filepath.Join(root, "deploy", "debian", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s in the package differs from deploy/debian/%s", name, name)
		}
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.Mode().Perm()&0o111 == 0 {
			t.Errorf("%s is not executable in the package (%v)", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "preinst")); err == nil {
		t.Error("unexpected preinst")
	}
}

// TestRelease builds the real binaries for amd64 and armhf (ARMv6) and
// their packages, as `make release` does.
func TestRelease(t *testing.T) {
	needTool(t, "dpkg-deb")
	goTool := needTool(t, "go")
	root := repoRoot(t)
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	arts, err := release(ctx, options{Root: root, Out: out, Version: "1.2.3", Commit: "abc1234", Archs: []string{"amd64", "armhf"}, Debs: true})
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{}
	for _, a := range arts {
		names[a.Target.DebArch+" "+a.Kind] = filepath.Base(a.Path)
	}
	wantNames := map[string]string{
		"amd64 binary": "posagent_1.2.3_linux_amd64", "amd64 deb": "posagent_1.2.3_amd64.deb",
		"armhf binary": "posagent_1.2.3_linux_armv6", "armhf deb": "posagent_1.2.3_armhf.deb",
	}
	for k, v := range wantNames {
		if names[k] != v {
			t.Errorf("%s: %q, want %q", k, names[k], v)
		}
	}

	t.Run("armv6 build info", func(t *testing.T) {
		info := runCmd(t, goTool, "version", "-m", filepath.Join(out, "posagent_1.2.3_linux_armv6"))
		for _, want := range []string{"\tGOARM=6\n", "\tGOARCH=arm\n", "\tGOOS=linux\n", "\tCGO_ENABLED=0\n", "\t-trimpath=true\n", "\tpath\tgithub.com/posagent/posagent/cmd/posagent\n"} {
			if !strings.Contains(info, want) {
				t.Errorf("go version -m lacks %q:\n%s", strings.TrimSpace(want), info)
			}
		}
	})
	t.Run("amd64 version stamp", func(t *testing.T) {
		if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
			t.Skipf("cannot run a linux/amd64 binary on %s/%s", runtime.GOOS, runtime.GOARCH)
		}
		got := strings.TrimSpace(runCmd(t, filepath.Join(out, "posagent_1.2.3_linux_amd64"), "version"))
		if !strings.HasPrefix(got, "posagent 1.2.3 (abc1234) go") || !strings.HasSuffix(got, " linux/amd64") {
			t.Errorf("posagent version = %q, want posagent 1.2.3 (abc1234) <go> linux/amd64", got)
		}
	})
	t.Run("deb holds the built files", func(t *testing.T) {
		for _, arch := range []string{"amd64", "armhf"} {
			deb := filepath.Join(out, "posagent_1.2.3_"+arch+".deb")
			if f := debFields(t, deb); f["Architecture"] != arch || f["Version"] != "1.2.3" || f["Package"] != "posagent" {
				t.Errorf("%s: fields %v", filepath.Base(deb), f)
			}
			checkDebFiles(t, deb)
			x := t.TempDir()
			runCmd(t, "dpkg-deb", "-x", deb, x)
			sameFile(t, filepath.Join(x, "usr/bin/posagent"), filepath.Join(out, names[arch+" binary"]))
			sameFile(t, filepath.Join(x, "lib/systemd/system/posagent.service"), filepath.Join(root, "deploy/systemd/posagent.service"))
			example, err := os.ReadFile(filepath.Join(root, "configs/posagent.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			packaged, err := withoutTerminalDisplay(example)
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := os.ReadFile(filepath.Join(x, "etc/posagent/posagent.yaml")); string(got) != string(packaged) {
				t.Error("etc/posagent/posagent.yaml is not configs/posagent.yaml without its terminal display")
			}
			// Every module linked into the binary is in the copyright file.
			cr, err := os.ReadFile(filepath.Join(x, "usr/share/doc/posagent/copyright"))
			if err != nil {
				t.Fatal(err)
			}
			for l := range strings.SplitSeq(runCmd(t, goTool, "version", "-m", filepath.Join(x, "usr/bin/posagent")), "\n") {
				if f := strings.Fields(l); len(f) >= 3 && f[0] == "dep" && !strings.Contains(string(cr), "Comment: Go module "+f[1]+" ") {
					t.Errorf("the copyright file does not list the linked module %s", f[1])
				}
			}
		}
	})
	t.Run("SHA256SUMS", func(t *testing.T) {
		sums, err := os.ReadFile(filepath.Join(out, "SHA256SUMS"))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(sums)), "\n")
		if len(lines) != len(arts) {
			t.Fatalf("SHA256SUMS has %d lines, want %d:\n%s", len(lines), len(arts), sums)
		}
		for _, a := range arts {
			sum, err := fileSHA256(a.Path)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(lines, sum+"  "+filepath.Base(a.Path)) {
				t.Errorf("SHA256SUMS lacks %s %s", sum, filepath.Base(a.Path))
			}
		}
	})
}

func sameFile(t *testing.T, got, want string) {
	t.Helper()
	g, err := os.ReadFile(got)
	if err != nil {
		t.Fatal(err)
	}
	w, err := os.ReadFile(want)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(g, w) {
		t.Errorf("%s differs from %s", got, want)
	}
}
