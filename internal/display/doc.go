// Package display provides the customer display: a Screen model (idle, cart,
// awaiting payment, paid, expired, canceled, error), a pure renderer from a
// Screen to an image, and the adapters that put a Screen in front of the
// customer: a web page for a kiosk browser (Server-Sent Events), the Linux
// framebuffer, a terminal (half-block QR) and a PNG file.
//
// A Controller, one per POS, fans each Screen out to that POS's sinks. Every
// sink has its own worker, so a slow or broken device never delays the
// others or the caller; the latest screen wins; a failing sink is reported
// through a callback (for metrics), logged and retried with backoff. Result
// screens (paid, expired, canceled, error) go back to idle after a hold.
//
// The QR is drawn with the largest whole-pixel module size that fits its
// area together with the 4-module quiet zone the QR standard asks for;
// below 3 px per module phones struggle, so Render refuses such sizes with
// ErrTooSmall instead of drawing something nobody can scan.
//
// Countdowns: the terminal and the framebuffer redraw once per second while
// a QR with an expiry is shown. The web page counts down by itself from
// expires_at, corrected by the offset between the server's clock and the
// browser's. The PNG sink does not tick: rewriting a file every second would
// wear the Pi's SD card for a picture that some other program may only read
// now and then, so it rewrites the file only when the screen changes and
// shows the expiry as a wall-clock time ("Vence a las 15:04"), which stays
// true for as long as the file is on disk.
//
// Cost on a Pi: the png and framebuffer displays keep their fonts, glyphs
// and frame between screens. The png display draws into a paletted frame
// (true colour only for an idle screen with a logo), compresses it with a
// reused compressor at its fastest level, keeps the bytes of screens that
// do not depend on the sale, and replaces the file by rename without an
// fsync (the agent rewrites it at start). A framebuffer countdown tick
// redraws and writes only the countdown's text. Both let a result screen
// settle for 250 ms (Settler): one that the next sale's QR replaces at once
// is never drawn. BENCHMARKS.md has the figures.
//
// Text is drawn with the Go fonts bundled in golang.org/x/image, so
// rendering works headless with no system fonts and covers the accented
// letters of Spanish and Portuguese. Amounts are formatted with
// money.Format, never through a float.
package display
