package version

import (
	"runtime"
	"strings"
	"testing"
)

func TestVersionIsPlainSemver(t *testing.T) {
	if v := Version(); !semver.MatchString(v) {
		t.Fatalf("Version() = %q, not plain semver", v)
	}
	for _, bad := range []string{"v1.2.3", "dev", "(devel)", "1.2", ""} {
		if semver.MatchString(bad) {
			t.Errorf("%q accepted as plain semver", bad)
		}
	}
	s := String()
	if !strings.HasPrefix(s, "posagent "+Version()+" (") || !strings.HasSuffix(s, runtime.GOOS+"/"+runtime.GOARCH) {
		t.Fatalf("String() = %q", s)
	}
}
