package main

import (
	"context"
	"errors"
	"io"
)

// cmdPrintTest prints a test receipt with a test QR on the configured
// printer.
func cmdPrintTest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("print-test: not yet available")
}

// cmdDisplayTest shows a test screen on every configured display.
func cmdDisplayTest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("display-test: not yet available")
}
