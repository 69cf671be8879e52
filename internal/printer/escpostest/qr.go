package escpostest

import (
	"fmt"
	"image"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
)

// DecodeQR reads the QR code in img.
func DecodeQR(img image.Image) (string, error) {
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		return "", fmt.Errorf("escpostest: binarize: %w", err)
	}
	hints := map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_TRY_HARDER: true}
	res, err := qrcode.NewQRCodeReader().Decode(bmp, hints)
	if err != nil {
		return "", fmt.Errorf("escpostest: read QR: %w", err)
	}
	return res.GetText(), nil
}

// Margins measures the white border around the dark dots of img: the
// columns left of the leftmost black dot and right of the rightmost, and
// the rows above and below. An all-white image reports ok false.
func Margins(img *image.Gray) (left, right, top, bottom int, ok bool) {
	b := img.Bounds()
	minX, minY, maxX, maxY := b.Max.X, b.Max.Y, -1, -1
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if img.GrayAt(x, y).Y < 0x80 {
				minX, maxX = min(minX, x), max(maxX, x)
				minY, maxY = min(minY, y), max(maxY, y)
			}
		}
	}
	if maxX < 0 {
		return 0, 0, 0, 0, false
	}
	return minX - b.Min.X, b.Max.X - 1 - maxX, minY - b.Min.Y, b.Max.Y - 1 - maxY, true
}

// FinderModule measures the module size of a QR symbol in img from its
// top-left finder pattern: the first dark run on the symbol's top row is
// 7 modules wide.
func FinderModule(img *image.Gray) (int, bool) {
	left, _, top, _, ok := Margins(img)
	if !ok {
		return 0, false
	}
	b := img.Bounds()
	y, run := b.Min.Y+top, 0
	for x := b.Min.X + left; x < b.Max.X && img.GrayAt(x, y).Y < 0x80; x++ {
		run++
	}
	if run%7 != 0 {
		return 0, false
	}
	return run / 7, true
}
