package logging_test

import (
	"fmt"
	"log/slog"

	"github.com/coreos/go-systemd/v22/journal"

	"github.com/posagent/posagent/internal/logging"
)

func ExampleNewJournalHandler() {
	// A stand-in for journal.Send, showing what journald would receive.
	send := func(msg string, pri journal.Priority, fields map[string]string) error {
		fmt.Printf("PRIORITY=%d MESSAGE=%s SYSLOG_IDENTIFIER=%s STORE_ID=%s PRINTER_ERROR_CODE=%s\n",
			pri, msg, fields["SYSLOG_IDENTIFIER"], fields["STORE_ID"], fields["PRINTER_ERROR_CODE"])
		return nil
	}
	l := slog.New(logging.NewJournalHandler(send, slog.LevelInfo)).With("store_id", "S001")
	l.WithGroup("printer").Warn("paper low", "errorCode", "paper_near_end")
	// Output: PRIORITY=4 MESSAGE=paper low SYSLOG_IDENTIFIER=posagent STORE_ID=S001 PRINTER_ERROR_CODE=paper_near_end
}
