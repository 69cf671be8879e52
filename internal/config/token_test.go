package config

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"
)

// fakeFiles reads from a map; a value "EACCES" or "EIO" fails that way.
func fakeFiles(files map[string]string) func(string) ([]byte, error) {
	return func(name string) ([]byte, error) {
		v, ok := files[name]
		switch {
		case !ok:
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
		case v == "EACCES":
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrPermission}
		case v == "EIO":
			return nil, &fs.PathError{Op: "read", Path: name, Err: errors.New("input/output error")}
		}
		return []byte(v), nil
	}
}

func TestAccessToken(t *testing.T) {
	const (
		file    = "/etc/posagent/mp-access-token"
		credDir = "/run/credentials/posagent.service"
		cred    = credDir + "/mp-access-token"
	)
	tests := []struct {
		name     string
		tokenKey string // mercadopago.access_token_file
		env      map[string]string
		files    map[string]string
		want     string // the token, "" for an error
		source   string
		errHas   []string // for errors: what the message must say
	}{
		{"env first", file, map[string]string{TokenEnv: "APP_USR-env", "CREDENTIALS_DIRECTORY": credDir},
			map[string]string{file: "APP_USR-file", cred: "APP_USR-cred"}, "APP_USR-env", "env POSAGENT_MP_ACCESS_TOKEN", nil},
		{"file second", file, map[string]string{"CREDENTIALS_DIRECTORY": credDir},
			map[string]string{file: "APP_USR-file\n", cred: "APP_USR-cred"}, "APP_USR-file", "file " + file, nil},
		{"credential third", "", map[string]string{"CREDENTIALS_DIRECTORY": credDir},
			map[string]string{file: "APP_USR-file", cred: "APP_USR-cred\r\n"}, "APP_USR-cred", "credential mp-access-token", nil},
		{"absent file falls back to credential", file, map[string]string{"CREDENTIALS_DIRECTORY": credDir},
			map[string]string{cred: "APP_USR-cred"}, "APP_USR-cred", "credential mp-access-token", nil},
		{"root-only file falls back to credential", file, map[string]string{"CREDENTIALS_DIRECTORY": credDir},
			map[string]string{file: "EACCES", cred: "APP_USR-cred"}, "APP_USR-cred", "credential mp-access-token", nil},
		{"absent file, no credential", file, nil, nil, "", "",
			[]string{"no mercado pago access token", "file " + file + ": file does not exist", TokenEnv}},
		{"unreadable file, no credential", file, nil, map[string]string{file: "EACCES"}, "", "",
			[]string{"file " + file + ": permission denied"}},
		{"nothing configured", "", nil, nil, "", "",
			[]string{"no mercado pago access token", "set env " + TokenEnv + ", mercadopago.access_token_file or the systemd credential mp-access-token"}},
		{"credential dir without the token", "", map[string]string{"CREDENTIALS_DIRECTORY": credDir}, nil, "", "",
			[]string{"credential mp-access-token: not found in $CREDENTIALS_DIRECTORY"}},
		{"file read error", file, map[string]string{"CREDENTIALS_DIRECTORY": credDir},
			map[string]string{file: "EIO", cred: "APP_USR-cred"}, "", "file " + file, []string{file, "input/output error"}},
		{"empty file", file, nil, map[string]string{file: "\n"}, "", "file " + file, []string{"file " + file + ": is empty"}},
		{"blank env", file, map[string]string{TokenEnv: "  "}, map[string]string{file: "APP_USR-file"}, "", "env " + TokenEnv, []string{"env " + TokenEnv + ": is empty"}},
		{"inner space", file, nil, map[string]string{file: "APP_USR-12 34secret\n"}, "", "file " + file, []string{file, "whitespace"}},
		{"control char", file, nil, map[string]string{file: "APP_USR-12\x1b34secret"}, "", "file " + file, []string{file, "control"}},
		{"two lines", file, nil, map[string]string{file: "APP_USR-1234secret\nAPP_USR-5678secret\n"}, "", "file " + file, []string{file, "whitespace"}},
		{"non-ascii", "", map[string]string{TokenEnv: "APP_USR-12ñ34secret"}, nil, "", "env " + TokenEnv, []string{"non-ASCII"}},
		{"huge file", file, nil, map[string]string{file: strings.Repeat("s", 5000)}, "", "file " + file, []string{"longer than 4096"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			c.MercadoPago.AccessTokenFile = tt.tokenKey
			tok, src, err := c.AccessToken(fakeEnv(tt.env, nil), fakeFiles(tt.files))
			if src != tt.source {
				t.Errorf("source = %q, want %q", src, tt.source)
			}
			if tt.want != "" {
				if err != nil || tok.Reveal() != tt.want {
					t.Fatalf("got %q, %v; want %q", tok.Reveal(), err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("got token %q, want an error", tok.Reveal())
			}
			if !tok.Empty() {
				t.Error("a token came with the error")
			}
			msg := err.Error()
			for _, s := range tt.errHas {
				if !strings.Contains(msg, s) {
					t.Errorf("error %q does not say %q", msg, s)
				}
			}
			// The error never shows a token, nor a piece of one.
			secrets := []string{}
			for _, v := range tt.files {
				secrets = append(secrets, v)
			}
			for _, v := range tt.env {
				secrets = append(secrets, v)
			}
			for _, v := range secrets {
				for _, piece := range []string{"secret", "APP_USR", "12 34", "sss", "ñ"} {
					if strings.Contains(v, piece) && strings.Contains(msg, piece) {
						t.Errorf("error %q leaks %q", msg, piece)
					}
				}
			}
		})
	}
}

func TestAccessTokenNotPrinted(t *testing.T) {
	c := Default()
	tok, _, err := c.AccessToken(fakeEnv(map[string]string{TokenEnv: "APP_USR-abc"}, nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	if s := fmt.Sprintf("%v %s %+v", tok, tok, tok); strings.Contains(s, "APP_USR") {
		t.Errorf("token printed: %s", s)
	}
}

func TestAccessTokenErrorWrapsCause(t *testing.T) {
	c := Default()
	c.MercadoPago.AccessTokenFile = "/nope"
	_, _, err := c.AccessToken(fakeEnv(nil, nil), fakeFiles(nil))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error %v does not wrap fs.ErrNotExist", err)
	}
}
