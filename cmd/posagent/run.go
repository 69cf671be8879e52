package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/posagent/posagent/internal/agent"
	"github.com/posagent/posagent/internal/config"
	"github.com/posagent/posagent/internal/logging"
)

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("run", stderr)
	cfgPath := fs.String("config", defaultConfig, "configuration file")
	logFormat := fs.String("log-format", "text", "log format: text, json or journal (native journald, with priorities)")
	debug := fs.Bool("debug", false, "log at debug level")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	log, closeLog, err := logging.New(*logFormat, stderr, level)
	if err != nil {
		return usageError{err}
	}
	defer func() { _ = closeLog() }()
	fatal := fatalLogger(*logFormat, log, stderr)
	cfg, err := loadConfig(*cfgPath, stderr)
	if err != nil {
		fatal.Error("configuration error: not starting; fix the file, then restart", "err", err)
		return configError{err}
	}
	for _, w := range cfg.Warnings(config.DefaultEnv()) {
		log.Warn("config: " + w.Path + ": " + w.Reason)
	}
	tok, src, err := accessToken(cfg)
	if err != nil {
		fatal.Error("no usable access token: not starting; put it in place, then restart", "err", err, "hint", tokenHint(src))
		return configError{err}
	}
	log.Info("access token loaded", "source", src)
	opts := agent.Options{
		// Under systemd stdout is the journal: frames without ANSI codes.
		Config: cfg, Token: tok, Logger: log, Terminal: stdout, PlainTerminal: !isTerminal(stdout),
		Ready:    func() { _, _ = daemon.SdNotify(false, daemon.SdNotifyReady) },
		Watchdog: func() { _, _ = daemon.SdNotify(false, daemon.SdNotifyWatchdog) },
	}
	if iv, err := daemon.SdWatchdogEnabled(false); err == nil && iv > 0 {
		opts.WatchdogEvery = iv / 3
	}
	a, err := agent.New(opts)
	if err != nil {
		return setupError(fatal, err)
	}
	err = a.Run(ctx)
	_, _ = daemon.SdNotify(false, daemon.SdNotifyStopping)
	if err != nil {
		return setupError(fatal, fmt.Errorf("run: %w", err))
	}
	log.Info("posagent stopped")
	return nil
}

// setupError turns an agent's configuration problem (agent.ConfigError)
// into exit 78, said the way a bad config file is; other errors pass.
func setupError(fatal *slog.Logger, err error) error {
	var ce *agent.ConfigError
	if !errors.As(err, &ce) {
		return err
	}
	fatal.Error("configuration error: not starting; put the file in place, then restart", "err", err)
	return configError{err}
}

// tokenHint explains a token error from its source: under the packaged
// unit a credential that is not a token is systemd's fallback
// (SetCredential=) for a missing file.
func tokenHint(src string) string {
	if src == "credential "+config.TokenCredential {
		return "the unit's LoadCredential= file (default /etc/posagent/mp-access-token) is missing, empty or not a token"
	}
	return "set env " + config.TokenEnv + ", mercadopago.access_token_file or the systemd credential " + config.TokenCredential
}

// fatalLogger is the logger for the errors that end `run` before it
// starts. Under journald they go to stderr with an sd-daemon "<3>" prefix
// rather than as native entries: journald learns a stream's unit when it
// opens, but may miss the unit of a native entry whose sender has already
// exited, and `journalctl -u posagent -p err` must show why it stopped.
func fatalLogger(format string, log *slog.Logger, stderr io.Writer) *slog.Logger {
	if format != "journal" {
		return log
	}
	return slog.New(logging.NewPrefixHandler(stderr, nil))
}
