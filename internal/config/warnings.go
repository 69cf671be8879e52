package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
)

// Env is what Warnings and AccessToken see of the machine, injectable so
// tests need no real files or environment.
type Env struct {
	Getenv func(string) string
	Stat   func(string) (fs.FileInfo, error)
}

// DefaultEnv is the process environment and the real file system.
func DefaultEnv() Env { return Env{Getenv: os.Getenv, Stat: os.Stat} }

// complete fills unset functions from DefaultEnv, so a zero Env works.
func (e Env) complete() Env {
	if e.Getenv == nil {
		e.Getenv = os.Getenv
	}
	if e.Stat == nil {
		e.Stat = os.Stat
	}
	return e
}

type warner struct {
	env Env
	out []Warning
}

func (w *warner) add(path, reason string) {
	w.out = append(w.out, Warning{Path: path, Reason: reason})
}

// Warnings checks the configuration against this machine: files, devices
// and directories it names, and listeners open to the network. None makes
// the file invalid (it may be checked elsewhere than where it runs), but
// each likely stops the agent from working or exposes it. It reads no file.
func (c *Config) Warnings(env Env) []Warning {
	w := &warner{env: env.complete()}
	c.tokenWarnings(w)
	w.secretFile("mercadopago.webhook_secret_file", c.MercadoPago.WebhookSecretFile)
	if u, err := url.Parse(c.MercadoPago.BaseURL); err == nil && u.Scheme == "http" && !loopbackHost(u.Hostname()) {
		w.add("mercadopago.base_url", "plain http beyond this machine: the access token would travel unencrypted")
	}

	n := c.NATS
	if n.URL == "" {
		e := n.Embedded
		if !loopbackListen(e.Listen) && !e.Auth.HasUsers() {
			w.add("nats.embedded.listen", "listens beyond this machine without nats.embedded.auth: anyone on the network can send sales and read events")
		}
		if n.Auth != (NATSAuth{}) {
			w.add("nats.auth", "ignored: nats.url is empty, so the embedded server runs (see nats.embedded.auth)")
		}
		if n.TLS != (NATSTLS{}) {
			w.add("nats.tls", "ignored: nats.url is empty, so the embedded server runs (see nats.embedded.tls)")
		}
		w.secretFile("nats.embedded.auth.password_file", e.Auth.PasswordFile)
		w.secretFile("nats.embedded.auth.users_file", e.Auth.UsersFile)
		w.file("nats.embedded.tls.cert_file", e.TLS.CertFile)
		w.secretFile("nats.embedded.tls.key_file", e.TLS.KeyFile)
		if e.MaxMemory <= 0 || e.MaxStore <= 0 {
			w.add("nats.embedded", "JetStream limits max_memory and max_store missing: the server would claim 75% of RAM and up to 1 TB of disk")
		}
	} else {
		w.secretFile("nats.auth.password_file", n.Auth.PasswordFile)
		w.secretFile("nats.auth.token_file", n.Auth.TokenFile)
		w.secretFile("nats.auth.creds_file", n.Auth.CredsFile)
		w.file("nats.tls.ca_file", n.TLS.CAFile)
		w.file("nats.tls.cert_file", n.TLS.CertFile)
		w.secretFile("nats.tls.key_file", n.TLS.KeyFile)
	}

	c.leafWarnings(w)

	if c.HTTP.Listen != "" && !loopbackListen(c.HTTP.Listen) {
		w.add("http.listen", "reachable from the network without authentication (status page, metrics, web display): needed only for a web display on another device")
	}
	w.dir("state_dir", c.StateDir)

	for i, p := range c.POS {
		if p.Mode == "dynamic" && len(p.Displays) == 0 && p.Printer == nil {
			w.add(fmt.Sprintf("pos[%d].displays", i), "none and no printer: the dynamic QR is only in the created event, for the register to show")
		}
		for j, d := range p.Displays {
			dp := fmt.Sprintf("pos[%d].displays[%d]", i, j)
			switch d.Type {
			case "png":
				w.dir(dp+".path", filepath.Dir(d.Path))
			case "framebuffer":
				w.device(dp+".device", d.Device)
			}
		}
		if pr := p.Printer; pr != nil {
			pp := fmt.Sprintf("pos[%d].printer.device", i)
			switch pr.Transport {
			case "serial", "usb":
				w.device(pp, pr.Device)
			case "file":
				w.dir(pp, filepath.Dir(pr.Device))
			}
		}
	}
	return w.out
}

// tokenWarnings follows AccessToken's order of sources without reading
// any of them.
func (c *Config) tokenWarnings(w *warner) {
	if w.env.Getenv(TokenEnv) != "" {
		return
	}
	credOK := false
	if dir := w.env.Getenv("CREDENTIALS_DIRECTORY"); dir != "" {
		fi, err := w.env.Stat(filepath.Join(dir, TokenCredential))
		credOK = err == nil && fi.Mode().IsRegular()
	}
	const path = "mercadopago.access_token_file"
	f := c.MercadoPago.AccessTokenFile
	if f == "" {
		if !credOK {
			w.add(path, "no access token on this machine: set this key, env "+TokenEnv+" or the systemd credential "+TokenCredential)
		}
		return
	}
	fi, err := w.env.Stat(f)
	switch {
	case err == nil:
		w.checkSecretInfo(path, fi)
	case credOK:
		// AccessToken falls back to the credential when the file is
		// absent or unreadable.
	case errors.Is(err, fs.ErrNotExist):
		w.add(path, "file "+f+" not found on this machine (and no systemd credential "+TokenCredential+")")
	default:
		w.add(path, "cannot be checked: "+reason(err))
	}
}

// secretFile warns about a secret file that is absent or open to others.
func (w *warner) secretFile(path, name string) {
	if name == "" {
		return
	}
	fi, err := w.env.Stat(name)
	if err != nil {
		w.statFailed(path, "file "+name, err)
		return
	}
	w.checkSecretInfo(path, fi)
}

func (w *warner) checkSecretInfo(path string, fi fs.FileInfo) {
	switch {
	case fi.IsDir():
		w.add(path, "is a directory, not a file")
	case fi.Mode().Perm()&0o077 != 0:
		w.add(path, fmt.Sprintf("readable or writable by group or others (mode %04o): chmod 600 it", fi.Mode().Perm()))
	case fi.Mode().IsRegular() && fi.Size() == 0:
		w.add(path, "file is empty")
	}
}

func (w *warner) file(path, name string) {
	if name == "" {
		return
	}
	if fi, err := w.env.Stat(name); err != nil {
		w.statFailed(path, "file "+name, err)
	} else if fi.IsDir() {
		w.add(path, "is a directory, not a file")
	}
}

func (w *warner) dir(path, name string) {
	if name == "" {
		return
	}
	if fi, err := w.env.Stat(name); err != nil {
		w.statFailed(path, "directory "+name, err)
	} else if !fi.IsDir() {
		w.add(path, name+" is not a directory")
	}
}

func (w *warner) device(path, name string) {
	if name == "" {
		return
	}
	if _, err := w.env.Stat(name); err != nil {
		w.statFailed(path, "device "+name, err)
	}
}

func (w *warner) statFailed(path, what string, err error) {
	if errors.Is(err, fs.ErrNotExist) {
		w.add(path, what+" not found on this machine")
		return
	}
	w.add(path, what+" cannot be checked: "+reason(err))
}

// reason is err without the path fs.PathError repeats.
func reason(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// loopbackListen reports whether a listen address only accepts connections
// from this machine.
func loopbackListen(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	return err == nil && loopbackHost(host)
}

func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
