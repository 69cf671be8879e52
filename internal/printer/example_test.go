package printer_test

import (
	"fmt"
	"time"

	"github.com/posagent/posagent/internal/money"
	"github.com/posagent/posagent/internal/printer"
	"github.com/posagent/posagent/internal/printer/escpostest"
)

func ExampleEncoder_Encode() {
	enc, err := printer.NewEncoder(printer.Config{Profile: "epson58", Location: time.UTC})
	if err != nil {
		panic(err)
	}
	out, err := enc.Encode(printer.Receipt{
		StoreName: "Café Central",
		Locale:    "es-AR",
		Amount:    money.Cents(15000),
		QRData:    printer.SampleQRData,
		SaleID:    "000123",
		ExpiresAt: time.Date(2026, 11, 23, 14, 15, 0, 0, time.UTC),
	})
	if err != nil {
		panic(err)
	}
	doc, err := escpostest.Decode(out)
	if err != nil {
		panic(err)
	}
	for _, line := range doc.Lines() {
		fmt.Println(line)
	}
	qr := doc.Ops[doc.Index(escpostest.QR)[0]].QR
	fmt.Printf("QR: %d bytes, %d dots a module; receipt: %d bytes\n", len(qr.Data), qr.Module, len(out))
	// Output:
	// Café Central
	// Total
	// $ 150,00
	// Escaneá el QR para pagar
	// Venta: 000123
	// Vence: 23/11/2026 14:15
	// QR: 147 bytes, 6 dots a module; receipt: 314 bytes
}
