package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"debug/buildinfo"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The files a Debian package must carry besides the program: the
// copyright file (with every Go module linked into the static binary),
// the changelog, lintian overrides with their reasons, the man page, and
// the packaged example configuration. They are generated into a directory
// per package so that they stay true to the tree and the binary.

// moduleLicenses is the license of every module that may be linked into
// posagent, by module path. A module missing here fails the release: add
// it after reading its LICENSE file.
var moduleLicenses = map[string]string{
	"github.com/antithesishq/antithesis-sdk-go": "MIT",
	"github.com/beorn7/perks":                   "MIT",
	"github.com/cespare/xxhash/v2":              "MIT",
	"github.com/coreos/go-systemd/v22":          "Apache-2.0",
	"github.com/creack/pty":                     "MIT",
	"github.com/google/uuid":                    "BSD-3-Clause",
	"github.com/klauspost/compress":             "BSD-3-Clause and Apache-2.0 and MIT",
	"github.com/minio/highwayhash":              "Apache-2.0",
	"github.com/munnerz/goautoneg":              "BSD-3-Clause",
	"github.com/nats-io/jwt/v2":                 "Apache-2.0",
	"github.com/nats-io/nats-server/v2":         "Apache-2.0",
	"github.com/nats-io/nats.go":                "Apache-2.0",
	"github.com/nats-io/nkeys":                  "Apache-2.0",
	"github.com/nats-io/nuid":                   "Apache-2.0",
	"github.com/prometheus/client_golang":       "Apache-2.0",
	"github.com/prometheus/client_model":        "Apache-2.0",
	"github.com/prometheus/common":              "Apache-2.0",
	"github.com/prometheus/procfs":              "Apache-2.0",
	"github.com/skip2/go-qrcode":                "MIT",
	"github.com/tarm/serial":                    "BSD-3-Clause",
	"golang.org/x/crypto":                       "BSD-3-Clause",
	"golang.org/x/image":                        "BSD-3-Clause",
	"golang.org/x/net":                          "BSD-3-Clause",
	"golang.org/x/sync":                         "BSD-3-Clause",
	"golang.org/x/sys":                          "BSD-3-Clause",
	"golang.org/x/term":                         "BSD-3-Clause",
	"golang.org/x/text":                         "BSD-3-Clause",
	"golang.org/x/time":                         "BSD-3-Clause",
	"google.golang.org/protobuf":                "BSD-3-Clause",
	"gopkg.in/yaml.v3":                          "MIT and Apache-2.0",
}

// debDocs writes the generated package files for binary into dir and
// returns their package contents.
func debDocs(o options, binary, dir string) ([]debFile, error) {
	var out []debFile
	add := func(dest string, mode os.FileMode, data []byte) error {
		src := filepath.Join(dir, strings.ReplaceAll(strings.TrimPrefix(dest, "/"), "/", "_"))
		if err := os.WriteFile(src, data, 0o644); err != nil {
			return err
		}
		out = append(out, debFile{src, dest, mode})
		return nil
	}
	cr, err := copyrightFile(binary)
	if err != nil {
		return nil, err
	}
	if err := add("/usr/share/doc/posagent/copyright", 0o644, cr); err != nil {
		return nil, err
	}
	if err := add("/usr/share/doc/posagent/changelog.gz", 0o644, gz(changelog(o))); err != nil {
		return nil, err
	}
	if err := add("/usr/share/lintian/overrides/posagent", 0o644, []byte(lintianOverrides)); err != nil {
		return nil, err
	}
	usage, err := commandUsage(o.Root)
	if err != nil {
		return nil, err
	}
	if err := add("/usr/share/man/man1/posagent.1.gz", 0o644, gz(manPage(o, usage))); err != nil {
		return nil, err
	}
	cfg, err := os.ReadFile(filepath.Join(o.Root, "configs", "posagent.yaml"))
	if err != nil {
		return nil, err
	}
	pkgCfg, err := withoutTerminalDisplay(cfg)
	if err != nil {
		return nil, err
	}
	if err := add("/etc/posagent/posagent.yaml", 0o640, pkgCfg); err != nil {
		return nil, err
	}
	return out, nil
}

// debFile is one generated file: its source here and place in the package.
type debFile struct {
	src, dest string
	mode      os.FileMode
}

// gz compresses as Debian wants it: best compression, no name or time.
func gz(b []byte) []byte {
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	_, _ = w.Write(b)
	_ = w.Close()
	return buf.Bytes()
}

// changelog is a native package's Debian changelog: one entry, this
// release (the project's history is in its git log).
func changelog(o options) []byte {
	return fmt.Appendf(nil, "posagent (%s) stable; urgency=medium\n\n  * Release %s; the changes are in the project's git history.\n\n -- %s  %s\n",
		debVersion(o.Version), o.Version, maintainer, o.MTime.UTC().Format(time.RFC1123Z))
}

// debVersion is the Debian form of a semver: a pre-release sorts first.
func debVersion(v string) string { return strings.Replace(v, "-", "~", 1) }

// lintianOverrides keeps the tags that are deliberate, each with its reason.
const lintianOverrides = `# posagent is one static Go binary (CGO_ENABLED=0), on purpose: the same
# file runs on every Raspberry Pi OS and Debian release without libc
# version coupling, and the system's Go libraries are not used.
posagent: statically-linked-binary [usr/bin/posagent]
# /etc/posagent holds the Mercado Pago access token file: the directory is
# root:posagent 0750 and the configuration 0640 (set by the postinst), so
# other local users cannot list or read them.
posagent: non-standard-dir-perm 0750 != 0755 [etc/posagent/]
posagent: non-standard-file-perm 0640 != 0644 [etc/posagent/posagent.yaml]
# The maintainer scripts call systemctl only when systemd runs
# (/run/systemd/system) and ignore its failures; the package does not
# depend on init-system-helpers so that it installs in minimal roots.
posagent: maintainer-script-calls-systemctl [postinst:*]
posagent: maintainer-script-calls-systemctl [prerm:*]
# posagent is a systemd service by design (Type=notify, watchdog,
# credentials); there is no SysV init script.
posagent: package-supports-alternative-init-but-no-init.d-script [lib/systemd/system/posagent.service]
`

// copyrightFile is the machine-readable copyright file: posagent itself
// and every module the binary links, read from its build information.
func copyrightFile(binary string) ([]byte, error) {
	bi, err := buildinfo.ReadFile(binary)
	if err != nil {
		return nil, fmt.Errorf("copyright: %w", err)
	}
	var b bytes.Buffer
	b.WriteString(`Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: posagent
Upstream-Contact: ` + maintainer + `
Source: ` + homepage + `
Comment: /usr/bin/posagent is a static Go binary: besides posagent's own
 code it contains the Go standard library and the modules listed below,
 each under its own license.

Files: *
Copyright: 2026 the posagent maintainers
License: all-rights-reserved
 No license has been published for posagent's own code yet; until one is,
 its copyright holders reserve all rights not granted by law.
`)
	licenses := map[string]bool{"BSD-3-Clause": true} // the standard library's
	fmt.Fprintf(&b, "\nFiles: go/*\nCopyright: The Go Authors\nLicense: BSD-3-Clause\nComment: the Go standard library and runtime (%s)\n", bi.GoVersion)
	deps := slices.Clone(bi.Deps)
	slices.SortFunc(deps, func(a, c *debug.Module) int { return strings.Compare(a.Path, c.Path) })
	for _, d := range deps {
		lic, ok := moduleLicenses[d.Path]
		if !ok {
			return nil, fmt.Errorf("copyright: module %s is linked into posagent but has no license in tools/release moduleLicenses: read its LICENSE and add it", d.Path)
		}
		fmt.Fprintf(&b, "\nFiles: vendor/%s/*\nCopyright: the authors of %s\nLicense: %s\nComment: Go module %s %s\n", d.Path, d.Path, lic, d.Path, d.Version)
		for l := range strings.SplitSeq(lic, " and ") {
			licenses[l] = true
		}
	}
	for _, l := range []string{"Apache-2.0", "BSD-3-Clause", "MIT"} {
		if licenses[l] {
			b.WriteString("\n" + licenseTexts[l])
		}
	}
	return b.Bytes(), nil
}

// commandUsage reads the `usage` constant of cmd/posagent/main.go: the
// command's own help, so the man page cannot drift from it.
func commandUsage(root string) (string, error) {
	path := filepath.Join(root, "cmd", "posagent", "main.go")
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		return "", err
	}
	for _, decl := range f.Decls {
		g, ok := decl.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			for i, n := range vs.Names {
				if lit, ok := vs.Values[i].(*ast.BasicLit); ok && n.Name == "usage" && lit.Kind == token.STRING {
					return strconv.Unquote(lit.Value)
				}
			}
		}
	}
	return "", fmt.Errorf("%s: no usage string constant", path)
}

// manPage is posagent(1) in roff, from the command's help text.
func manPage(o options, usage string) []byte {
	esc := func(s string) string {
		s = strings.ReplaceAll(s, `\`, `\e`)
		if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
			s = `\&` + s
		}
		return strings.ReplaceAll(s, "-", `\-`)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, ".TH POSAGENT 1 %q \"posagent %s\" \"User Commands\"\n", o.MTime.UTC().Format("2006-01-02"), o.Version)
	b.WriteString(".SH NAME\nposagent \\- point\\-of\\-sale agent: cash register to Mercado Pago QR orders\n")
	b.WriteString(".SH SYNOPSIS\n.B posagent\n.I command\n[\\fIflags\\fR]\n")
	b.WriteString(".SH DESCRIPTION\nposagent takes sale totals from the cash register over NATS, creates Mercado Pago QR orders, shows and prints their QR, and tells the register when they are paid. The commands, as\n.B posagent help\nprints them:\n.PP\n.nf\n")
	sc := bufio.NewScanner(strings.NewReader(usage))
	for sc.Scan() {
		b.WriteString(esc(sc.Text()) + "\n")
	}
	b.WriteString(".fi\n.PP\nEach command prints its flags with\n.BR \\-h .\n")
	b.WriteString(".SH EXIT STATUS\n0 success, 1 runtime failure or refusal, 2 usage or configuration error;\n.B run\nexits 78 (EX_CONFIG) on a configuration or access token error, the one status systemd does not restart.\n")
	b.WriteString(".SH FILES\n.TP\n.I /etc/posagent/posagent.yaml\nthe configuration, every key explained\n.TP\n.I /etc/posagent/mp-access-token\nthe Mercado Pago access token (root, mode 0600)\n.TP\n.I /var/lib/posagent\nhandled sales, orders in progress, the embedded NATS server's store\n")
	b.WriteString(".SH SEE ALSO\n.BR systemctl (1),\n.BR journalctl (1);\n.I /usr/share/doc/posagent/README.systemd.md\nand\n.I /usr/share/doc/posagent/README.md\n")
	return b.Bytes()
}

// withoutTerminalDisplay removes the example's `- type: terminal` display
// (with its comment lines and keys): under systemd it would draw into the
// journal. The rest of the file is unchanged.
func withoutTerminalDisplay(cfg []byte) ([]byte, error) {
	lines := strings.SplitAfter(string(cfg), "\n")
	start := -1
	for i, l := range lines {
		if strings.TrimSpace(l) == "- type: terminal" {
			start = i
			break
		}
	}
	if start < 0 {
		return nil, fmt.Errorf("configs/posagent.yaml: no `- type: terminal` display to leave out of the package")
	}
	indent := len(lines[start]) - len(strings.TrimLeft(lines[start], " "))
	// Its comment lines just above, at the same indentation.
	from := start
	for from > 0 && strings.HasPrefix(strings.TrimLeft(lines[from-1], " "), "# terminal") {
		from--
	}
	// Its keys: the lines below indented deeper than the dash.
	to := start + 1
	for to < len(lines) {
		l := lines[to]
		ind := len(l) - len(strings.TrimLeft(l, " "))
		if strings.TrimSpace(l) != "" && ind <= indent {
			break
		}
		to++
	}
	// A comment of the next item belongs to it: give back the trailing
	// comment lines at the dash's indentation.
	for to > start+1 && strings.HasPrefix(strings.TrimLeft(lines[to-1], " "), "#") &&
		len(lines[to-1])-len(strings.TrimLeft(lines[to-1], " ")) == indent {
		to--
	}
	note := strings.Repeat(" ", indent) + "# (The terminal display is left out of the packaged example: under\n" +
		strings.Repeat(" ", indent) + "# systemd it would draw into the journal. See the README.)\n"
	return []byte(strings.Join(lines[:from], "") + note + strings.Join(lines[to:], "")), nil
}
