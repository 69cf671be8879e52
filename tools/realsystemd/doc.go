// Package realsystemd holds the real-systemd test of the posagent .deb:
// systemd as PID 1 in a throwaway Debian bookworm root on this machine,
// the freshly built amd64 package installed with dpkg, and the service's
// promises (readiness, journald fields, restarts, watchdog, exit 78,
// devices, credentials, upgrade, purge) checked against the running
// service. The test is behind the build tag realsystemd and needs root;
// deploy/systemd/README.md says what it proves and how to run it.
package realsystemd
