package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/posagent/posagent/internal/config"
)

// cmdConfigCheck validates a file: every error on stderr as
// `key.path: reason (value)`, exit 2; warnings as `warning: key.path:
// reason`, exit 0.
func cmdConfigCheck(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("config check", stderr)
	cfgPath := fs.String("config", defaultConfig, "configuration file")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	c, err := config.Load(*cfgPath)
	if err != nil {
		var probs config.Errors
		if errors.As(err, &probs) {
			for _, p := range probs {
				fmt.Fprintln(stderr, p.String())
			}
			return silentError{exitUsage}
		}
		fmt.Fprintln(stderr, err)
		return silentError{exitUsage}
	}
	warnings := c.Warnings(config.DefaultEnv())
	for _, w := range warnings {
		fmt.Fprintln(stderr, w.String())
	}
	fmt.Fprintf(stdout, "%s: ok (store %s, %d POS, %d warning(s))\n", *cfgPath, c.StoreID, len(c.POS), len(warnings))
	return nil
}
