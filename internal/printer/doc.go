// Package printer prints a sale's payment QR on an ESC/POS receipt printer.
//
// It has a pure core and thin adapters:
//
//   - [Encoder] turns a [Receipt] into ESC/POS bytes: code page selection
//     with transcoded text, the amount in a large font, the QR as a native
//     GS ( k symbol or as a GS v 0 raster image, and the cut. It does no I/O.
//   - Transports carry those bytes to a printer: [Serial] (tarm/serial plus
//     flow control and write deadlines), [USB] (the Linux usblp device),
//     [TCP] (raw port 9100) and [File] (append, for debugging and spooling).
//     Serial and TCP also ask the printer for its state with DLE EOT
//     ([StatusReader]).
//   - [Printer] is the per-POS worker: [Printer.Print] never blocks the
//     order flow, [Printer.Run] prints, retries while the sale still wants
//     its QR and reports printer problems and recoveries.
//
// Profiles ([LookupProfile]) say what posagent assumes about a printer
// family: line width, QR support, code page, cut, raster quirks.
package printer
