package main

import (
	"fmt"
	"os"
	"path/filepath"

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

// debContents maps repository files to their place on the store machine.
func debContents(root, binary string) files.Contents {
	src := func(rel string) string { return filepath.Join(root, filepath.FromSlash(rel)) }
	return files.Contents{
		{Source: binary, Destination: "/usr/bin/posagent", FileInfo: &files.ContentFileInfo{Mode: 0o755}},
		{Source: src("deploy/systemd/posagent.service"), Destination: "/lib/systemd/system/posagent.service", FileInfo: &files.ContentFileInfo{Mode: 0o644}},
		// root:root here; the postinst gives the directory and the file to
		// group posagent, which does not exist yet when dpkg unpacks.
		{Destination: "/etc/posagent", Type: files.TypeDir, FileInfo: &files.ContentFileInfo{Mode: 0o750}},
		{Source: src("configs/posagent.yaml"), Destination: "/etc/posagent/posagent.yaml", Type: files.TypeConfig, FileInfo: &files.ContentFileInfo{Mode: 0o640}},
		{Source: src("deploy/modules-load.d/posagent.conf"), Destination: "/usr/lib/modules-load.d/posagent.conf", FileInfo: &files.ContentFileInfo{Mode: 0o644}},
		{Source: src("deploy/systemd/README.md"), Destination: "/usr/share/doc/posagent/README.systemd.md", FileInfo: &files.ContentFileInfo{Mode: 0o644}},
	}
}

// debInfo describes the package for one target.
func debInfo(o options, t target, binary string) *nfpm.Info {
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
			Contents: debContents(o.Root, binary),
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
	info := debInfo(o, t, binary)
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
