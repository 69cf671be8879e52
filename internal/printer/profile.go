package printer

import (
	"golang.org/x/text/encoding/charmap"
)

// Profile is what posagent assumes about one family of printers. Every
// value can be wrong for a particular model; the config keys qr,
// paper_width_dots, code_page, max_module_dots and raster_band_rows
// override the ones that matter most.
type Profile struct {
	Name string
	// NativeQR: the printer draws QR codes itself (GS ( k, function 165-181).
	// Without it the QR is sent as a GS v 0 raster image.
	NativeQR bool
	// WidthDots is the printable line: 576 (80 mm at 203 dpi), 512 (TM-T88,
	// 180 dpi), 384 (58 mm).
	WidthDots int
	// CodePage is the character table text is transcoded to (see CodePages).
	CodePage string
	// PartialCut selects GS V 1 instead of GS V 0 (full cut).
	PartialCut bool
	// RasterDouble: the printer honours GS v 0 m=3 (each bit drawn as 2x2
	// dots), which sends a quarter of the bytes.
	RasterDouble bool
	// RasterBandRows is the most rows sent in one GS v 0 command; 0 means no
	// limit. Printers with a small receive buffer garble tall images.
	RasterBandRows int
	// NativeModuleDots is the preferred module size of a native QR.
	NativeModuleDots int
	// FeedUnitsPerDot converts dot rows to ESC J units: 1 where the vertical
	// motion unit is the dot pitch, 2 on the TM-T88 family (180 dpi dots,
	// 1/360 inch unit). Erring high only feeds more blank paper.
	FeedUnitsPerDot int
	// CutFeedLines is how many lines ESC d feeds before the cut so the last
	// printed line clears the cutter (or the tear bar).
	CutFeedLines int
	// Assumes says in words what the profile takes for granted.
	Assumes string
}

// profiles is a function, not a package variable, so no caller can change
// a profile for everybody.
func profiles() []Profile {
	return []Profile{
		{
			Name: "epson", NativeQR: true, WidthDots: 576, CodePage: "cp858",
			RasterDouble: true, NativeModuleDots: 6, FeedUnitsPerDot: 1, CutFeedLines: 4,
			Assumes: "Epson TM-T20/TM-m30 class, 80 mm paper at 203 dpi (576 dots, 48 columns of font A), " +
				"GS ( k QR, ESC t 19 = CP858 (CP850 with the euro sign), full cut with GS V 0, " +
				"GS v 0 m=3 honoured, ESC J in dots",
		},
		{
			Name: "epson58", NativeQR: true, WidthDots: 384, CodePage: "cp858",
			RasterDouble: true, NativeModuleDots: 6, FeedUnitsPerDot: 1, CutFeedLines: 4,
			Assumes: "Epson 58 mm models (TM-T20 with 58 mm guide, TM-m10), 384 dots (32 columns), " +
				"otherwise as epson",
		},
		{
			Name: "tm-t88", NativeQR: true, WidthDots: 512, CodePage: "cp858",
			RasterDouble: true, NativeModuleDots: 5, FeedUnitsPerDot: 2, CutFeedLines: 4,
			Assumes: "Epson TM-T88 IV/V/VI: 80 mm paper at 180 dpi (512 dots, 42 columns), GS ( k QR, " +
				"ESC t 19 = CP858, full cut, vertical motion unit 1/360 inch (ESC J counts half dots)",
		},
		{
			Name: "generic58", NativeQR: false, WidthDots: 384, CodePage: "cp850",
			PartialCut: true, RasterBandRows: 255, NativeModuleDots: 6, FeedUnitsPerDot: 1, CutFeedLines: 4,
			Assumes: "cheap 58 mm printers (POS-5890, ZJ-5870 \"POS-58\"): no native QR (they print GS ( k as text), " +
				"384 dots, ESC t 2 = CP850 (ZJ-5870 has no CP858, so no euro sign), GS v 0 only in normal density, " +
				"at most 255 rows per GS v 0, partial cut GS V 1 (ignored by models without a cutter)",
		},
		{
			Name: "generic80", NativeQR: false, WidthDots: 576, CodePage: "cp850",
			PartialCut: true, RasterBandRows: 255, NativeModuleDots: 6, FeedUnitsPerDot: 1, CutFeedLines: 4,
			Assumes: "cheap 80 mm printers of unknown QR support: as generic58 with 576 dots (48 columns)",
		},
	}
}

// LookupProfile returns the built-in profile called name.
func LookupProfile(name string) (Profile, bool) {
	for _, p := range profiles() {
		if p.Name == name {
			return p, true
		}
	}
	return Profile{}, false
}

// ProfileNames lists the built-in profiles, for config validation.
func ProfileNames() []string {
	ps := profiles()
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.Name
	}
	return names
}

// codePage is one character table: what ESC t selects and how text is
// transcoded for it.
type codePage struct {
	name  string
	escT  byte // ESC t n on Epson and compatibles (Star printers number them differently)
	table *charmap.Charmap
}

func codePages() []codePage {
	return []codePage{
		{"cp437", 0, charmap.CodePage437},    // the power-on default: no ã, õ, Á
		{"cp850", 2, charmap.CodePage850},    // Multilingual Latin 1
		{"cp858", 19, charmap.CodePage858},   // CP850 with the euro sign
		{"cp860", 3, charmap.CodePage860},    // Portuguese
		{"wpc1252", 16, charmap.Windows1252}, // Windows Latin 1
	}
}

// CodePages lists the code_page values the encoder knows.
func CodePages() []string {
	cps := codePages()
	names := make([]string, len(cps))
	for i, c := range cps {
		names[i] = c.name
	}
	return names
}

func lookupCodePage(name string) (codePage, bool) {
	if name == "cp1252" { // the usual name for WPC1252
		name = "wpc1252"
	}
	for _, c := range codePages() {
		if c.name == name {
			return c, true
		}
	}
	return codePage{}, false
}
