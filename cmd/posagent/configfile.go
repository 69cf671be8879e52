package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/posagent/posagent/internal/config"
	"github.com/posagent/posagent/internal/secret"
)

// loadConfig reads and checks the config file; problems are printed one
// per line as `config check` does, and make a usage error (exit 2).
func loadConfig(path string, stderr io.Writer) (*config.Config, error) {
	c, err := config.Load(path)
	if err != nil {
		var probs config.Errors
		if errors.As(err, &probs) {
			for _, p := range probs {
				fmt.Fprintln(stderr, p.String())
			}
			return nil, usagef("%s: %d configuration error(s)", path, len(probs))
		}
		return nil, usageError{err}
	}
	return c, nil
}

// accessToken finds the Mercado Pago token (env, file, credential).
func accessToken(c *config.Config) (secret.String, string, error) {
	tok, src, err := c.AccessToken(config.DefaultEnv(), os.ReadFile)
	if err != nil {
		return secret.String{}, src, usageError{err}
	}
	return tok, src, nil
}

// findPOS returns the named POS, or the only one when id is empty.
func findPOS(c *config.Config, id string) (*config.POS, error) {
	if id == "" {
		if len(c.POS) == 1 {
			return &c.POS[0], nil
		}
		return nil, usagef("-pos is required: the config has %d POS", len(c.POS))
	}
	p, ok := c.FindPOS(id)
	if !ok {
		return nil, usagef("-pos %s: not in the config", id)
	}
	return p, nil
}
