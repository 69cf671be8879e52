package config

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/posagent/posagent/internal/printer"
)

// TestPrinterLimitsAgree walks every printer limit, on both sides of it,
// through `config check` (Parse) and through the printer the agent runs
// (the printer's check of the complete section, then printer.New + Run): a
// value one accepts the other must accept, so a file that passes the check
// can never stop the agent at start-up. (raster_band_rows: 3000 used to
// pass the check and stop `run`.)
func TestPrinterLimitsAgree(t *testing.T) {
	cases := []struct {
		key, value string
		ok         bool
	}{
		{"baud", "9600", true}, {"baud", "921600", true}, {"baud", "1234", false}, {"baud", "0", false},
		{"flow_control", "rtscts", true}, {"flow_control", "hw", false},
		{"write_timeout", "100ms", true}, {"write_timeout", "99ms", false}, {"write_timeout", "0s", false},
		{"profile", "generic58", true}, {"profile", "star", false},
		{"qr", "raster", true}, {"qr", "maybe", false},
		{"paper_width_dots", "0", true}, {"paper_width_dots", "128", true}, {"paper_width_dots", "2048", true},
		{"paper_width_dots", "120", false}, {"paper_width_dots", "2056", false}, {"paper_width_dots", "130", false},
		{"code_page", "cp858", true}, {"code_page", "utf8", false},
		{"max_module_dots", "1", true}, {"max_module_dots", "16", true}, {"max_module_dots", "0", false}, {"max_module_dots", "17", false},
		{"raster_band_rows", "0", true}, {"raster_band_rows", "2303", true}, {"raster_band_rows", "2304", false},
		{"raster_band_rows", "3000", false}, {"raster_band_rows", "-1", false},
		{"status_query", "off", true}, {"status_query", "sometimes", false},
		{"status_timeout", "1ms", true}, {"status_timeout", "0s", false},
		{"status_interval", "1s", true}, {"status_interval", "-1s", false},
		{"retry_min", "2s", true}, {"retry_min", "0s", false},
		{"retry_max", "30s", true}, {"retry_max", "0s", false},
	}
	for _, c := range cases {
		t.Run(c.key+"="+c.value, func(t *testing.T) {
			dev := filepath.Join(t.TempDir(), "receipts.bin")
			section := "{transport: serial, device: " + dev + ", " + c.key + ": " + c.value + "}"
			_, err := Parse([]byte(withPOS("  - {external_pos_id: P1, printer: " + section + "}\n")))
			checkOK := err == nil
			if err != nil && !strings.Contains(err.Error(), "pos[0].printer."+c.key+":") {
				t.Fatalf("config check: problem not under pos[0].printer.%s: %v", c.key, err)
			}

			cfg := printer.DefaultConfig()
			if err := yaml.Unmarshal([]byte(section), &cfg); err != nil {
				t.Fatalf("decode the section for the printer: %v", err)
			}
			// What run does with a section that passed: the printer's own
			// check of the complete section, then its worker.
			runErr := cfg.Validate()
			if runErr == nil {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				runErr = printer.New(cfg, nil, nil, nil).Run(ctx)
			}
			runOK := runErr == nil

			if checkOK != c.ok || runOK != c.ok {
				t.Errorf("%s: %s: config check ok=%v (%v), printer ok=%v (%v); want both %v", c.key, c.value, checkOK, err, runOK, runErr, c.ok)
			}
		})
	}
}
