package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/posagent/posagent/internal/config"
	"github.com/posagent/posagent/internal/fleet"
	"github.com/posagent/posagent/internal/natsconn"
)

// storeStatus is `posagent status -json`.
type storeStatus struct {
	StoreID   string          `json:"store_id"`
	StoreName string          `json:"store_name,omitempty"`
	Agent     *agentStatus    `json:"agent,omitempty"` // absent when no agent answered
	Health    *healthStatus   `json:"health,omitempty"`
	HealthErr string          `json:"health_error,omitempty"`
	NATSErr   string          `json:"nats_error,omitempty"`
	POS       []fleet.RowJSON `json:"pos"`
	Missing   []string        `json:"missing_pos,omitempty"` // configured POS the agent did not list
}

type agentStatus struct {
	ID            string `json:"id"`
	Version       string `json:"version"`
	Started       string `json:"started,omitempty"`
	UptimeSeconds int64  `json:"uptime_s,omitempty"`
}

type healthStatus struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

// cmdStatus shows one store's agent from this machine: every POS through
// the status query over NATS (as `posagent fleet` asks it) and the agent's
// /healthz. Exit 0 when the agent answered for every POS and is healthy;
// 1 otherwise.
func cmdStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("status", stderr)
	cfgPath := fs.String("config", defaultConfig, "configuration file")
	jsonOut := fs.Bool("json", false, "one JSON object")
	timeout := fs.Duration("timeout", fleet.DefaultTimeout, "how long to wait for the agent")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	if *timeout <= 0 {
		return usagef("-timeout %s: must be positive", *timeout)
	}
	cfg, err := loadConfig(*cfgPath, stderr)
	if err != nil {
		return err
	}
	out := storeStatus{StoreID: cfg.StoreID, StoreName: cfg.StoreName, POS: []fleet.RowJSON{}}
	now := time.Now()
	rows, agentInfo, natsErr := queryStore(ctx, cfg, *timeout)
	if natsErr != nil {
		out.NATSErr = natsErr.Error()
	}
	if agentInfo != nil {
		out.Agent = &agentStatus{ID: agentInfo.ID, Version: agentInfo.Version}
		if !agentInfo.Started.IsZero() {
			out.Agent.Started = agentInfo.Started.UTC().Format(time.RFC3339)
			out.Agent.UptimeSeconds = int64(now.Sub(agentInfo.Started) / time.Second)
		}
	}
	listed := map[string]bool{}
	failed := false
	for _, r := range rows {
		out.POS = append(out.POS, r.JSON(now))
		listed[r.POS] = true
		failed = failed || r.Err != nil
	}
	for _, p := range cfg.POS {
		if out.Agent != nil && !listed[p.ExternalPOSID] {
			out.Missing = append(out.Missing, p.ExternalPOSID)
		}
	}
	h, herr := fetchHealth(ctx, cfg.HTTP.Listen, *timeout)
	if herr != nil {
		out.HealthErr = herr.Error()
	} else {
		out.Health = h
	}

	if *jsonOut {
		b, err := json.Marshal(out)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\n", b)
	} else {
		printStatus(stdout, out, rows, now)
	}
	if out.Agent == nil || failed || len(out.Missing) > 0 || (out.Health != nil && out.Health.Status != "ok") {
		return silentError{exitFailure}
	}
	return nil
}

// queryStore asks the store's agent for every POS's status, in the
// configuration's order.
func queryStore(ctx context.Context, cfg *config.Config, timeout time.Duration) ([]fleet.Row, *fleet.Agent, error) {
	url, opts, err := natsconn.Register(cfg, os.ReadFile)
	if err != nil {
		return nil, nil, err
	}
	nc, err := nats.Connect(url, append(opts, nats.Name("posagent-status"), nats.Timeout(timeout))...)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to NATS at %s: %w", natsconn.RedactURL(url), err)
	}
	defer nc.Close()
	var rows []fleet.Row
	var found *fleet.Agent
	_, err = fleet.Collect(ctx, nc, fleet.Options{Timeout: timeout, Quiet: -1, Expect: 1, StoreID: cfg.StoreID},
		func(r fleet.Row) {
			a := r.Agent
			found = &a
			rows = append(rows, r)
		})
	order := map[string]int{}
	for i, p := range cfg.POS {
		order[p.ExternalPOSID] = i
	}
	sort.SliceStable(rows, func(i, j int) bool { return order[rows[i].POS] < order[rows[j].POS] })
	return rows, found, err
}

// fetchHealth reads GET /healthz on http.listen (a wildcard host is
// reached on loopback).
func fetchHealth(ctx context.Context, listen string, timeout time.Duration) (*healthStatus, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil || port == "0" {
		return nil, fmt.Errorf("http.listen %q: no fixed address to ask", listen)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/healthz", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET /healthz: %w", err)
	}
	defer resp.Body.Close()
	var h healthStatus
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&h); err != nil || h.Status == "" {
		return nil, fmt.Errorf("GET /healthz: %s: not a health report", resp.Status)
	}
	return &h, nil
}

func printStatus(w io.Writer, s storeStatus, rows []fleet.Row, now time.Time) {
	name := s.StoreID
	if s.StoreName != "" {
		name = s.StoreName + " (" + s.StoreID + ")"
	}
	switch a := s.Agent; {
	case a == nil:
		fmt.Fprintf(w, "store %s: no agent answered", name)
		if s.NATSErr != "" {
			fmt.Fprintf(w, " (%s)", s.NATSErr)
		}
		fmt.Fprintln(w)
	default:
		up := "-"
		if a.Started != "" {
			up = fleet.Duration(time.Duration(a.UptimeSeconds) * time.Second)
		}
		fmt.Fprintf(w, "store %s: posagent %s, up %s\n", name, a.Version, up)
	}
	switch h := s.Health; {
	case h == nil:
		fmt.Fprintf(w, "health: unknown (%s)\n", s.HealthErr)
	default:
		keys := make([]string, 0, len(h.Checks))
		for k := range h.Checks {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + " " + h.Checks[k]
		}
		fmt.Fprintf(w, "health: %s (%s)\n", h.Status, strings.Join(parts, ", "))
	}
	if len(rows) > 0 {
		fmt.Fprintln(w)
		t := fleet.NewTable(w)
		t.Fit(rows, now)
		for _, r := range rows {
			_ = t.Write(r, now)
		}
	}
	for _, p := range s.Missing {
		fmt.Fprintf(w, "POS %s: configured, but the agent does not serve it\n", p)
	}
}
