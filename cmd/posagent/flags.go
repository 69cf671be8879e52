package main

import (
	"errors"
	"flag"
	"io"
)

// defaultConfig is the configuration file read without -config.
const defaultConfig = "/etc/posagent/posagent.yaml"

// newFlags returns a flag set that reports errors as usage errors.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("posagent "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags parses args; a bad flag or a stray argument is a usage error.
func parseFlags(fs *flag.FlagSet, args []string, positional int) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return silentError{exitOK}
		}
		return silentError{exitUsage}
	}
	if fs.NArg() != positional {
		return usagef("%s: want %d argument(s) after the flags, got %q", fs.Name(), positional, fs.Args())
	}
	return nil
}
