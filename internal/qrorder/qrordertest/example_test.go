package qrordertest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/posagent/posagent/internal/emvco"
	"github.com/posagent/posagent/internal/qrorder/qrordertest"
)

// A register sells a coffee with a dynamic QR; the customer pays.
func Example() {
	sim := qrordertest.New(qrordertest.Options{POS: []string{"CAJA1"}})
	url, stop := sim.Start()
	defer stop()

	body := `{
		"type": "qr",
		"total_amount": "150.00",
		"external_reference": "CAJA1-sale42",
		"config": {"qr": {"external_pos_id": "CAJA1", "mode": "dynamic"}},
		"transactions": {"payments": [{"amount": "150.00"}]}
	}`
	req, _ := http.NewRequest("POST", url+"/v1/orders", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+qrordertest.DefaultToken)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Idempotency-Key", "6d1c1f0e-0000-4000-8000-000000000042")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	var order struct {
		ID           string `json:"id"`
		Status       string `json:"status"`
		TypeResponse struct {
			QRData string `json:"qr_data"`
		} `json:"type_response"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&order); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.StatusCode, order.Status, emvco.Check(order.TypeResponse.QRData))

	// The customer scans and pays.
	if err := sim.Pay(order.ID); err != nil {
		fmt.Println(err)
		return
	}
	o, _ := sim.Order(order.ID)
	fmt.Println(o.Status, o.StatusDetail, o.TotalAmount)
	// Output:
	// 201 created <nil>
	// processed accredited 150.00
}
