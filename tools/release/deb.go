package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the "deb" packager
	"github.com/goreleaser/nfpm/v2/files"
)

const (
	// maintainer is the Debian Maintainer field; .invalid because the
	// project has published no address yet.
	maintainer = "posagent maintainers <maintainers@posagent.invalid>"
	homepage   = "https://github.com/posagent/posagent"
	// description: a synopsis line, then the long description.
	description = `point-of-sale agent: cash register to Mercado Pago QR orders
 posagent takes sale totals from the cash register over NATS, creates
 Mercado Pago QR orders, shows their QR on customer displays and receipt
 printers, and tells the register when they are paid. Runs as the systemd
 service posagent.service; the package does not start it until the access
 token is in place (see /usr/share/doc/posagent/README.systemd.md).`
)

// debContents maps repository files, and the files generated for the
// package (debDocs), to their place on the store machine.
func debContents(root, binary string, generated []debFile) (files.Contents, error) {
	src := func(rel string) string { return filepath.Join(root, filepath.FromSlash(rel)) }
	c := files.Contents{
		{Source: binary, Destination: "/usr/bin/posagent", FileInfo: &files.ContentFileInfo{Mode: 0o755}},
		{Source: src("deploy/systemd/posagent.service"), Destination: "/lib/systemd/system/posagent.service", FileInfo: &files.ContentFileInfo{Mode: 0o644}},
		// root:root here; the postinst gives the directory and the file to
		// group posagent, which does not exist yet when dpkg unpacks.
		{Destination: "/etc/posagent", Type: files.TypeDir, FileInfo: &files.ContentFileInfo{Mode: 0o750}},
		{Source: src("deploy/modules-load.d/posagent.conf"), Destination: "/usr/lib/modules-load.d/posagent.conf", FileInfo: &files.ContentFileInfo{Mode: 0o644}},
		{Source: src("deploy/systemd/README.md"), Destination: "/usr/share/doc/posagent/README.systemd.md", FileInfo: &files.ContentFileInfo{Mode: 0o644}},
		{Source: src("README.md"), Destination: "/usr/share/doc/posagent/README.md", FileInfo: &files.ContentFileInfo{Mode: 0o644}},
		{Source: src("deploy/prometheus/posagent-alerts.yml"), Destination: "/usr/share/doc/posagent/prometheus/posagent-alerts.yml", FileInfo: &files.ContentFileInfo{Mode: 0o644}},
	}
	docs, err := filepath.Glob(src("docs/*.md"))
	if err != nil {
		return nil, err
	}
	for _, d := range docs {
		c = append(c, &files.Content{Source: d, Destination: "/usr/share/doc/posagent/docs/" + filepath.Base(d), FileInfo: &files.ContentFileInfo{Mode: 0o644}})
	}
	for _, g := range generated {
		typ := ""
		if strings.HasPrefix(g.dest, "/etc/") {
			typ = files.TypeConfig
		}
		c = append(c, &files.Content{Source: g.src, Destination: g.dest, Type: typ, FileInfo: &files.ContentFileInfo{Mode: g.mode}})
	}
	return c, nil
}

// debInfo describes the package for one target.
func debInfo(o options, t target, binary string, contents files.Contents) *nfpm.Info {
	scripts := func(name string) string { return filepath.Join(o.Root, "deploy", "debian", name) }
	info := &nfpm.Info{
		Name:            "posagent",
		Arch:            t.DebArch,
		Platform:        "linux",
		Version:         o.Version,
		VersionSchema:   "semver", // 1.2.3-rc.1 becomes 1.2.3~rc.1, which sorts before 1.2.3
		Section:         "net",
		Priority:        "optional",
		Maintainer:      maintainer,
		Description:     description,
		Homepage:        homepage,
		DisableGlobbing: true,
		MTime:           o.MTime,
		Overridables: nfpm.Overridables{
			// adduser: the postinst creates the posagent system user.
			Depends:  []string{"adduser"},
			Contents: contents,
			Scripts: nfpm.Scripts{
				PostInstall: scripts("postinst"),
				PreRemove:   scripts("prerm"),
				PostRemove:  scripts("postrm"),
			},
			Deb: nfpm.Deb{Compression: "xz"},
		},
	}
	return nfpm.WithDefaults(info)
}

// packageDeb writes the .deb for t next to the binary.
func packageDeb(o options, t target, binary string) (path string, err error) {
	pkg, err := nfpm.Get("deb")
	if err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp("", "posagent-deb-")
	if err != nil {
		return "", err
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	generated, err := debDocs(o, binary, tmp)
	if err != nil {
		return "", fmt.Errorf("deb %s: %w", t.DebArch, err)
	}
	contents, err := debContents(o.Root, binary, generated)
	if err != nil {
		return "", fmt.Errorf("deb %s: %w", t.DebArch, err)
	}
	info := debInfo(o, t, binary, contents)
	if err := nfpm.Validate(info); err != nil {
		return "", fmt.Errorf("deb %s: %w", t.DebArch, err)
	}
	path = filepath.Join(o.Out, pkg.ConventionalFileName(info))
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = cerr
		}
		if err != nil {
			_ = os.Remove(path)
		}
	}()
	if err := pkg.Package(info, f); err != nil {
		return "", fmt.Errorf("deb %s: %w", t.DebArch, err)
	}
	return path, nil
}
