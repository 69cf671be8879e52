# posagent builds. `make release VERSION=1.2.3` writes the three static
# binaries (linux amd64, arm64, arm GOARM=6), their .deb packages and
# SHA256SUMS to dist/; see deploy/systemd/README.md. The work is done by
# tools/release, a separate Go module so that nfpm stays out of posagent's
# dependencies.

GO      ?= go
# Plain semver (1.2.3); empty: the vX.Y.Z tag on HEAD, else 0.0.0-dev.
VERSION ?=
# Empty: the short HEAD commit.
COMMIT  ?=
DIST    ?= $(CURDIR)/dist

RELEASE_FLAGS = -root $(CURDIR) -out $(DIST) $(if $(VERSION),-version $(VERSION)) $(if $(COMMIT),-commit $(COMMIT))

.PHONY: all build release test test-tools vet clean

all: build

# The three binaries, without packages.
build:
	$(GO) -C tools run ./release $(RELEASE_FLAGS) -deb=false

# The three binaries and the three .deb packages.
release:
	$(GO) -C tools run ./release $(RELEASE_FLAGS)

test: vet
	$(GO) test ./...
	$(GO) -C tools test ./...

vet:
	$(GO) vet ./...
	$(GO) -C tools vet ./...

clean:
	rm -rf $(DIST)
