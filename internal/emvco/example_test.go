package emvco_test

import (
	"fmt"

	"github.com/posagent/posagent/internal/emvco"
)

func ExampleParse() {
	qr := "00020101021243650016COM.MERCADOLIBRE020130636cd8fce34-5045-43f2-96ff-ab36b717bbad5204000053039865802BR5909Test Test6009SAO PAULO62070503***63045742"
	p, err := emvco.Parse(qr)
	if err != nil {
		fmt.Println(err)
		return
	}
	gui, _ := p.Sub("43", "00")
	order, _ := p.Sub("43", "06")
	fmt.Println(p.PointOfInitiation(), gui, order)

	// One character changed: the CRC no longer matches.
	fmt.Println(emvco.Check(qr[:len(qr)-1] + "3"))
	// Output:
	// 12 COM.MERCADOLIBRE cd8fce34-5045-43f2-96ff-ab36b717bbad
	// emvco: CRC mismatch: payload says 5743, computed 5742
}

func ExampleWithCRC() {
	body, err := emvco.Encode(
		emvco.Field{Tag: "00", Value: "01"},
		emvco.Field{Tag: "01", Value: "11"},
		emvco.Field{Tag: "58", Value: "AR"},
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	payload := emvco.WithCRC(body)
	fmt.Println(payload, emvco.Check(payload))
	// Output: 0002010102115802AR63046752 <nil>
}
