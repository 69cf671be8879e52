package printer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/posagent/posagent/internal/emvco"
	"github.com/posagent/posagent/internal/money"
)

// PrintOnce prints r on the printer cfg describes and closes it: for
// `posagent print-test`. A printer that reports a problem before the job
// (paper out, cover open) gets nothing and the problem is the error.
func PrintOnce(ctx context.Context, cfg Config, r Receipt) error {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("printer: %w", err)
	}
	enc, err := NewEncoder(cfg)
	if err != nil {
		return fmt.Errorf("printer: %w", err)
	}
	data, err := enc.Encode(r)
	if err != nil {
		return fmt.Errorf("printer: %w", err)
	}
	tr, err := NewTransport(cfg)
	if err != nil {
		return fmt.Errorf("printer: %w", err)
	}
	defer tr.Close()
	if sr, ok := tr.(StatusReader); ok && cfg.StatusQuery != StatusQueryOff {
		st, err := sr.Status(ctx)
		switch {
		case err == nil && st.Problem():
			return fmt.Errorf("printer: printer reports %s", st)
		case errors.Is(err, ErrNoAnswer) && cfg.StatusQuery != StatusQueryOn:
			// Many printers never answer DLE EOT: print anyway.
		case err != nil:
			return err
		}
	}
	if _, err := tr.Write(data); err != nil {
		return err
	}
	return nil
}

// SampleQRData is the real dynamic order payload of
// testdata/qr_data_samples.txt (147 characters, Brazil), so a test
// print shows a QR of the size real sales get.
const SampleQRData = "00020101021243650016COM.MERCADOLIBRE020130636cd8fce34-5045-43f2-96ff-ab36b717bbad" +
	"5204000053039865802BR5909Test Test6009SAO PAULO62070503***63045742"

// TestReceipt is the receipt `posagent print-test` prints: the store's
// name, a line of accented letters to check the code page, an amount and
// a sample QR from the locale's country, in its currency. Scanning it in a Mercado Pago app shows an invalid order:
// it is for checking size and contrast.
func TestReceipt(storeName, locale string) Receipt {
	lb := labelsFor(locale)
	return Receipt{
		StoreName: storeName,
		Title:     lb.test,
		Locale:    locale,
		Amount:    money.Cents(123450),
		QRData:    emvco.Sample(locale),
		Mode:      "dynamic",
		OrderID:   "ORD00000000000000000000000000",
		SaleID:    "print-test",
		ExpiresAt: time.Time{},
		Footer:    lb.testLine,
	}
}
