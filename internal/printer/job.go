package printer

import (
	"time"

	"github.com/posagent/posagent/internal/money"
)

// Receipt is what one payment slip shows. Text fields are free text: the
// encoder transcodes them and strips anything that could act as a printer
// command. Empty optional fields are left out.
type Receipt struct {
	StoreName string
	Title     string // e.g. the sale's description, "Ticket 000123"
	Locale    string // money format and the language of the labels
	Amount    money.Cents
	QRData    string // printed as is: an EMVCo payload is opaque here
	Mode      string // the order's QR mode (static | dynamic | hybrid); not printed
	OrderID   string
	SaleID    string
	ExpiresAt time.Time // printed in Config.Location; zero: not printed
	Footer    string    // a last line, e.g. "Gracias por su compra"
	Items     []Item
}

// Item is one receipt line: "2 x Coffee ........ $ 150,00".
type Item struct {
	Title     string
	Quantity  int
	UnitPrice money.Cents
}

// Job is one receipt to print while Wanted says the sale still awaits
// payment: a QR for a paid, canceled or expired sale is never printed.
// A nil Wanted means always.
type Job struct {
	Receipt Receipt
	Wanted  func() bool
}
