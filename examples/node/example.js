// A register in a few lines: sell, show the QR payload, wait for the outcome.
//   NATS_URL=nats://127.0.0.1:4222 STORE=DEMO POS=DEMOPOS1 node example.js 150.00
"use strict";

const { Register } = require("./posagent");

async function main() {
  const amount = process.argv[2] || "150.00";
  const reg = await Register.connect({
    servers: process.env.NATS_URL || "nats://127.0.0.1:4222",
    store: process.env.STORE || "DEMO",
    pos: process.env.POS || "DEMOPOS1",
  });
  const saleID = process.argv[3] || `ex-${Date.now()}`;
  console.log(`sale ${saleID} for ${amount}...`);
  const ev = await reg.sale({ sale_id: saleID, total_amount: amount }, {
    onRetry: (n) => console.log(`agent not reachable, retrying (attempt ${n})`),
    onEvent: (e) => console.log(`${e.status}${e.order_id ? " " + e.order_id : ""}${e.qr_data ? "\n  qr_data: " + e.qr_data : ""}`),
  });
  console.log(`final: ${ev.status}${ev.error ? ` (${ev.error.code}: ${ev.error.message})` : ""}`);
  await reg.close();
  process.exit(ev.status === "processed" ? 0 : 1);
}

main().catch((err) => {
  console.error(err.message);
  process.exit(1);
});
