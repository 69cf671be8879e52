//go:build !linux

package printer

import (
	"context"
	"errors"
)

// errUnsupported: the serial and usb transports use Linux ioctls and
// devices; posagent runs on Linux.
var errUnsupported = errors.New("printer: transport needs Linux")

// Serial is a stub outside Linux.
type Serial struct{}

// NewSerial returns a transport that always fails outside Linux.
func NewSerial(Config) *Serial { return &Serial{} }

func (*Serial) Write([]byte) (int, error)              { return 0, errUnsupported }
func (*Serial) Status(context.Context) (Status, error) { return StatusOffline, errUnsupported }
func (*Serial) Close() error                           { return nil }

// USB is a stub outside Linux.
type USB struct{}

// NewUSB returns a transport that always fails outside Linux.
func NewUSB(Config) *USB { return &USB{} }

func (*USB) Write([]byte) (int, error) { return 0, errUnsupported }
func (*USB) Close() error              { return nil }
