// Package version provides the binary's version and commit, stamped at
// build time with -ldflags "-X .../internal/version.version=1.2.3 -X
// .../internal/version.commit=abc123", with the module's build info as the
// fallback. These two are the only package-level variables of posagent:
// the linker can set nothing else.
package version

import (
	"fmt"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
)

var (
	version = "" // set by -ldflags -X; plain semver, e.g. 1.2.3
	commit  = "" // set by -ldflags -X
)

// Dev is the version of an unstamped development build. It is plain semver
// because the NATS micro service refuses anything else.
const Dev = "0.0.0-dev"

var semver = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)

// Version returns the plain semver version: the stamped one, else the
// module version from the build info, else Dev.
func Version() string {
	for _, v := range []string{version, buildInfoVersion()} {
		v = strings.TrimPrefix(v, "v")
		if semver.MatchString(v) {
			return v
		}
	}
	return Dev
}

func buildInfoVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		return bi.Main.Version
	}
	return ""
}

// Commit returns the stamped commit, else the VCS revision from the build
// info (shortened), else "unknown".
func Commit() string {
	if commit != "" {
		return commit
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && s.Value != "" {
				return s.Value[:min(12, len(s.Value))]
			}
		}
	}
	return "unknown"
}

// String is the `posagent version` line.
func String() string {
	return fmt.Sprintf("posagent %s (%s) %s %s/%s", Version(), Commit(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
