package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/posagent/posagent/internal/secret"
)

// Where the Mercado Pago access token may come from besides
// mercadopago.access_token_file.
const (
	// TokenEnv is the environment variable checked first.
	TokenEnv = "POSAGENT_MP_ACCESS_TOKEN"
	// TokenCredential is the systemd credential name
	// (LoadCredential=mp-access-token:/etc/posagent/mp-access-token), read
	// from $CREDENTIALS_DIRECTORY.
	TokenCredential = "mp-access-token"
	// maxTokenLen bounds a token: real ones are under 100 bytes, and a file
	// that is not a token should not become a giant header.
	maxTokenLen = 4096
)

// AccessToken finds the Mercado Pago access token. Sources, first found
// wins: env POSAGENT_MP_ACCESS_TOKEN; the file mercadopago.access_token_file;
// $CREDENTIALS_DIRECTORY/mp-access-token. The file is skipped when it does
// not exist or this user may not read it, because the systemd unit hands
// the service a copy of a root-only file as a credential. It returns the
// token and the source it came from ("env POSAGENT_MP_ACCESS_TOKEN", "file
// /etc/posagent/mp-access-token", "credential mp-access-token").
//
// Surrounding whitespace (the file's trailing newline) is trimmed; an empty
// token, or one with inner whitespace, control or non-ASCII characters, is
// an error. No error ever contains the token. readFile nil means
// os.ReadFile.
func (c *Config) AccessToken(env Env, readFile func(string) ([]byte, error)) (secret.String, string, error) {
	env = env.complete()
	if readFile == nil {
		readFile = os.ReadFile
	}
	if v := env.Getenv(TokenEnv); v != "" {
		return cleanToken(v, "env "+TokenEnv)
	}
	var tried []string // why each earlier source gave nothing
	var lastErr error
	if f := c.MercadoPago.AccessTokenFile; f != "" {
		src := "file " + f
		data, err := readFile(f)
		switch {
		case err == nil:
			return cleanToken(string(data), src)
		case errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission):
			tried, lastErr = append(tried, src+": "+reason(err)), err
		default:
			return secret.String{}, src, fmt.Errorf("mercado pago access token: %s: %w", src, err)
		}
	}
	if dir := env.Getenv("CREDENTIALS_DIRECTORY"); dir != "" {
		src := "credential " + TokenCredential
		data, err := readFile(filepath.Join(dir, TokenCredential))
		switch {
		case err == nil:
			return cleanToken(string(data), src)
		case errors.Is(err, fs.ErrNotExist):
			tried, lastErr = append(tried, src+": not found in $CREDENTIALS_DIRECTORY"), err
		default:
			return secret.String{}, src, fmt.Errorf("mercado pago access token: %s: %w", src, err)
		}
	}
	if lastErr == nil {
		lastErr = fs.ErrNotExist
	}
	tried = append(tried, "set env "+TokenEnv+", mercadopago.access_token_file or the systemd credential "+TokenCredential)
	return secret.String{}, "", fmt.Errorf("no mercado pago access token: %s: %w", strings.Join(tried, "; "), lastErr)
}

// cleanToken trims and checks a token read from src. Its errors describe
// the token's shape, never its characters.
func cleanToken(raw, src string) (secret.String, string, error) {
	t := strings.TrimSpace(raw)
	bad := func(why string) (secret.String, string, error) {
		return secret.String{}, src, fmt.Errorf("mercado pago access token from %s: %s", src, why)
	}
	switch {
	case t == "":
		return bad("is empty")
	case len(t) > maxTokenLen:
		return bad("is longer than 4096 bytes: not a token")
	}
	for i := 0; i < len(t); i++ {
		if t[i] <= ' ' || t[i] >= 0x7f {
			return bad("contains whitespace, control or non-ASCII characters: not a token (is it the right file?)")
		}
	}
	return secret.New(t), src, nil
}
