package natsconn

import (
	"io/fs"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/posagent/posagent/internal/config"
)

// TestUsersFile: nats.embedded.auth.users_file is read strictly, and its
// errors never show a password.
func TestUsersFile(t *testing.T) {
	read := func(content string) func(string) ([]byte, error) {
		return func(string) ([]byte, error) { return []byte(content), nil }
	}
	users, err := ReadUsersFile(read("# c\n\n a pw-a \nb\tpw b\n"), "/f")
	if err != nil || len(users) != 2 || users[0].User != "a" || users[0].Password.Reveal() != "pw-a" || users[1].Password.Reveal() != "pw b" {
		t.Fatalf("%+v %v", users, err)
	}
	for content, want := range map[string]string{
		"a\n":                      "line 1: want",
		"a s3cret\na other-s3cret": `line 2: user "a" used twice`,
		"posagent-agent s3cret":    "reserved",
		"# only a comment\n":       "has no user",
	} {
		_, err := ReadUsersFile(read(content), "/f")
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%q: %v", content, err)
		}
	}
}

// TestRegister: where a register-side tool connects, and as whom.
func TestRegister(t *testing.T) {
	files := map[string]string{"/pw": "s3cret\n", "/users": "# registers\nreg1 pw-1\nreg2 pw-2\n", "/tok": "t0ken\n", "/empty": " \n"}
	read := func(path string) ([]byte, error) {
		if v, ok := files[path]; ok {
			return []byte(v), nil
		}
		return nil, fs.ErrNotExist
	}
	embedded := func(listen string, auth config.EmbeddedAuth, cert string) *config.Config {
		c := &config.Config{}
		c.NATS.Embedded.Listen, c.NATS.Embedded.Auth, c.NATS.Embedded.TLS.CertFile = listen, auth, cert
		return c
	}
	external := &config.Config{}
	external.NATS.URL = "nats://a:4222,nats://b:4222"
	external.NATS.Auth.TokenFile = "/tok"
	for _, c := range []struct {
		name                 string
		cfg                  *config.Config
		url, user, pw, token string
		err                  string
	}{
		{name: "embedded, any address", cfg: embedded("0.0.0.0:4222", config.EmbeddedAuth{}, ""), url: "nats://127.0.0.1:4222"},
		{name: "embedded, its user", cfg: embedded("127.0.0.1:4333", config.EmbeddedAuth{User: "reg", PasswordFile: "/pw"}, ""),
			url: "nats://127.0.0.1:4333", user: "reg", pw: "s3cret"},
		{name: "embedded, first of the users file", cfg: embedded(":4222", config.EmbeddedAuth{UsersFile: "/users"}, "/cert.pem"),
			url: "tls://127.0.0.1:4222", user: "reg1", pw: "pw-1"},
		{name: "external, token", cfg: external, url: "nats://a:4222,nats://b:4222", token: "t0ken"},
		{name: "bad listen", cfg: embedded("4222", config.EmbeddedAuth{}, ""), err: "nats.embedded.listen"},
		{name: "empty password file", cfg: embedded(":4222", config.EmbeddedAuth{User: "reg", PasswordFile: "/empty"}, ""),
			err: "nats.embedded.auth.password_file: /empty is empty"},
		{name: "missing users file", cfg: embedded(":4222", config.EmbeddedAuth{UsersFile: "/nope"}, ""),
			err: "nats.embedded.auth.users_file: cannot read /nope"},
	} {
		t.Run(c.name, func(t *testing.T) {
			url, opts, err := Register(c.cfg, read)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			o := nats.GetDefaultOptions()
			for _, opt := range opts {
				_ = opt(&o) // RootCAs reads its file: not there, and not what is checked
			}
			if url != c.url || o.User != c.user || o.Password != c.pw || o.Token != c.token {
				t.Errorf("url %q user %q password %q token %q", url, o.User, o.Password, o.Token)
			}
		})
	}
}

func TestRedactURL(t *testing.T) {
	got := RedactURL("nats://u:p@a:4222,nats://b:4222,tls://t0ken@c:4222")
	if want := "nats://[REDACTED]@a:4222,nats://b:4222,tls://[REDACTED]@c:4222"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
