package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/posagent/posagent/internal/agent"
	"github.com/posagent/posagent/internal/config"
	"github.com/posagent/posagent/internal/display"
	"github.com/posagent/posagent/internal/printer"
)

// selectPOS returns the POS a device test is about: the named one, or all.
func selectPOS(c *config.Config, id string) ([]*config.POS, error) {
	if id != "" {
		p, err := findPOS(c, id)
		if err != nil {
			return nil, err
		}
		return []*config.POS{p}, nil
	}
	out := make([]*config.POS, len(c.POS))
	for i := range c.POS {
		out[i] = &c.POS[i]
	}
	return out, nil
}

// cmdPrintTest prints a test receipt with a test QR on the configured
// printer, in its configured QR mode.
func cmdPrintTest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("print-test", stderr)
	cfgPath := fs.String("config", defaultConfig, "configuration file")
	posID := fs.String("pos", "", "only this POS (default: every POS with a printer)")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath, stderr)
	if err != nil {
		return err
	}
	list, err := selectPOS(cfg, *posID)
	if err != nil {
		return err
	}
	printed, failed := 0, 0
	for _, p := range list {
		if p.Printer == nil {
			if *posID != "" {
				return usagef("-pos %s has no printer configured", p.ExternalPOSID)
			}
			continue
		}
		pc := *p.Printer
		r := printer.TestReceipt(cfg.StoreName, cfg.Locale)
		tctx, cancel := context.WithTimeout(ctx, p.Printer.WriteTimeout+30*time.Second)
		err := printer.PrintOnce(tctx, pc, r)
		cancel()
		if err != nil {
			fmt.Fprintf(stderr, "%s: print-test on %s %s failed: %v\n", p.ExternalPOSID, p.Printer.Transport, p.Printer.Device, err)
			failed++
			continue
		}
		printed++
		fmt.Fprintf(stdout, "%s: test receipt sent to %s %s (profile %s, qr %s)\n", p.ExternalPOSID, p.Printer.Transport, p.Printer.Device, p.Printer.Profile, p.Printer.QR)
	}
	if printed == 0 && failed == 0 {
		return usagef("no POS in %s has a printer", *cfgPath)
	}
	if failed > 0 {
		return silentError{exitFailure}
	}
	return nil
}

// cmdDisplayTest shows a test screen with a test QR on every configured
// display. A web display is served on http.listen for -hold.
func cmdDisplayTest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("display-test", stderr)
	cfgPath := fs.String("config", defaultConfig, "configuration file")
	posID := fs.String("pos", "", "only this POS (default: every POS)")
	hold := fs.Duration("hold", 30*time.Second, "how long to serve web displays (http.listen) before exiting")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	cfg, err := loadConfig(*cfgPath, stderr)
	if err != nil {
		return err
	}
	list, err := selectPOS(cfg, *posID)
	if err != nil {
		return err
	}
	web := display.NewWeb(slog.New(slog.DiscardHandler), time.Now)
	defer web.Close()
	webPOS := []string{}
	failed := 0
	for _, p := range list {
		sinks, err := agent.DisplaySinks(p, stdout, !isTerminal(stdout), web)
		if err != nil {
			return usageError{err}
		}
		screen := display.TestScreen(cfg.StoreName, cfg.Locale)
		screen.POS = p.ExternalPOSID
		screen.ExpiresAt = time.Now().Add(10 * time.Minute)
		for _, s := range sinks {
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := s.Sink.Show(sctx, screen)
			cancel()
			if err != nil {
				fmt.Fprintf(stderr, "%s: %s display failed: %v\n", p.ExternalPOSID, s.Type, err)
				failed++
				continue
			}
			if s.Type == "web" {
				webPOS = append(webPOS, p.ExternalPOSID)
			} else if s.Type != "terminal" {
				fmt.Fprintf(stdout, "%s: test screen shown on the %s display\n", p.ExternalPOSID, s.Type)
			}
		}
	}
	if len(webPOS) > 0 {
		ln, err := net.Listen("tcp", cfg.HTTP.Listen)
		if err != nil {
			return fmt.Errorf("web display: http.listen %s: %w (is posagent running? it serves the page itself)", cfg.HTTP.Listen, err)
		}
		srv := &http.Server{Handler: web, ReadHeaderTimeout: 10 * time.Second}
		srv.RegisterOnShutdown(web.Close)
		go func() { _ = srv.Serve(ln) }()
		for _, pos := range webPOS {
			fmt.Fprintf(stdout, "%s: open http://%s/display/%s (served for %s)\n", pos, ln.Addr(), pos, *hold)
		}
		select {
		case <-ctx.Done():
		case <-time.After(*hold):
		}
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	if failed > 0 {
		return silentError{exitFailure}
	}
	return nil
}
