// The kit's own test, run by test.sh against a running agent:
//   node test.js flow          sale -> created -> pay -> processed, a resend
//                              answered as a replay, a duplicate sale id,
//                              a cancel, two refunds, the event follower
//   node test.js restart N     N sales one after the other, each paid; prints
//                              "done i" lines so test.sh can kill and restart
//                              the agent in the middle; fails if one is lost
// Environment: NATS_URL, STORE, POS, POSAGENT_SIM_URL (the Orders API
// simulator, to pay orders), optional SUBJECT_PREFIX.
"use strict";

const assert = require("node:assert/strict");
const { Register, EventFollower } = require("./posagent");

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} must be set`);
  return v;
};
const cfg = {
  servers: env("NATS_URL"), store: env("STORE"), pos: env("POS"),
  prefix: process.env.SUBJECT_PREFIX || "pos",
};
const simURL = env("POSAGENT_SIM_URL");
const run = `node${Date.now().toString(36)}`;

async function pay(orderID) {
  const res = await fetch(`${simURL}/simulator/orders/${orderID}/pay`, { method: "POST" });
  if (res.status !== 204) throw new Error(`pay ${orderID}: HTTP ${res.status} ${await res.text()}`);
}

async function flow(reg) {
  const followed = [];
  const follower = new EventFollower(reg.nc, { ...cfg, startTime: new Date(Date.now() - 1000), onEvent: (ev) => followed.push(ev) });

  const s1 = { sale_id: `${run}-1`, total_amount: "12.5", description: "node kit" };
  let created;
  const paid = await reg.sale(s1, {
    onEvent: (ev) => {
      if (ev.status === "created") {
        created = ev;
        pay(ev.order_id).catch((e) => console.error(e.message));
      }
    },
  });
  assert.ok(created && created.qr_data && created.order_id, "created event with qr_data and order_id");
  assert.equal(paid.status, "processed");
  assert.equal(paid.total_amount, "12.50");
  console.log(`ok sale ${s1.sale_id}: created ${created.order_id}, processed`);

  const again = await reg.sale({ total_amount: "12.50", description: "node kit", sale_id: s1.sale_id });
  assert.equal(again.status, "processed");
  assert.equal(again.replay, true, "a resent sale is answered as a replay");
  assert.equal(again.at, paid.at, "a replay keeps the original at");
  console.log("ok resend answered with replay: true");

  const dup = await reg.sale({ sale_id: s1.sale_id, total_amount: "13.00" });
  assert.equal(dup.status, "rejected");
  assert.equal(dup.error.code, "duplicate_sale_id");
  console.log("ok same sale id, other amount: rejected duplicate_sale_id");

  const s2 = { sale_id: `${run}-2`, total_amount: "99.99" };
  let onCreated;
  const isCreated = new Promise((r) => { onCreated = r; });
  const s2Final = reg.sale(s2, { onEvent: (ev) => ev.status === "created" && onCreated(ev) });
  await isCreated;
  const canceled = await reg.cancel(s2.sale_id);
  assert.equal(canceled.status, "canceled");
  assert.equal((await s2Final).status, "canceled");
  const late = await reg.cancel(s2.sale_id);
  assert.equal(late.status, "rejected");
  assert.equal(late.error.code, "invalid_state");
  assert.equal(late.sale_status, "canceled");
  console.log(`ok cancel ${s2.sale_id}: canceled; a second cancel: rejected invalid_state`);

  const part = await reg.refund(s1.sale_id, { amount: "2.50", refundID: "r1" });
  assert.equal(part.status, "refunded");
  assert.equal(part.status_detail, "partially_refunded");
  assert.equal(part.refunded_amount, "2.50");
  const rest = await reg.refund(s1.sale_id);
  assert.equal(rest.status_detail, "refunded");
  assert.equal(rest.refunded_amount, "12.50");
  console.log("ok refunds: partial r1 2.50, then the rest");

  const st = await reg.status();
  assert.equal(st.state, "idle");

  // Everything above reached the events stream exactly once per identity.
  const want = [`${s1.sale_id}/created`, `${s1.sale_id}/processed`, `${s2.sale_id}/created`, `${s2.sale_id}/canceled`,
    `${s1.sale_id}/refunded/r1`, `${s1.sale_id}/refunded/total`];
  await waitUntil(() => want.every((k) => followed.some((ev) => idOf(ev) === k)), 10000, "the follower to see every event");
  for (const k of want) assert.equal(followed.filter((ev) => idOf(ev) === k).length, 1, `${k} followed once`);
  assert.ok(!followed.some((ev) => ev.replay), "the stream holds no replay copies");
  await follower.stop();
  console.log(`ok follower saw ${followed.length} events, each once`);
}

const idOf = (ev) => [ev.sale_id, ev.status, ev.refund_id].filter(Boolean).join("/");

async function waitUntil(cond, ms, what) {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// gate lets test.sh act at a fixed point: it prints "gate NAME" and waits
// for the file GATE_DIR/NAME (without GATE_DIR it does not wait).
async function gate(name) {
  if (!process.env.GATE_DIR) return;
  console.log(`gate ${name}`);
  const fs = require("node:fs");
  await waitUntil(() => fs.existsSync(`${process.env.GATE_DIR}/${name}`), 120000, `gate ${name}`);
}

async function restart(reg, n) {
  // A follower that lives through both agent restarts (the embedded NATS
  // restarts with the agent) and must still see every sale's outcome once.
  const followed = [];
  const follower = new EventFollower(reg.nc, { ...cfg, startTime: new Date(Date.now() - 1000), onEvent: (ev) => followed.push(ev) });
  for (let i = 1; i <= n; i++) {
    await gate(`sale${i}`);
    const sale = { sale_id: `${run}-r${i}`, total_amount: `${i}.00` };
    let retries = 0;
    const ev = await reg.sale(sale, {
      onRetry: (attempt, err) => console.log(`retry ${i} attempt ${attempt}: ${err.message}`, ++retries),
      onEvent: (e) => {
        if (e.status !== "created" || e.replay) return;
        console.log(`created ${i} ${e.order_id}`);
        gate(`pay${i}`).then(() => pay(e.order_id)).catch((err) => console.error(err.message));
      },
    });
    if (ev.status !== "processed") throw new Error(`sale ${sale.sale_id} ended ${ev.status}: ${JSON.stringify(ev)}`);
    console.log(`done ${i} ${sale.sale_id} ${ev.status} (publish retried ${retries} times)`);
  }
  const want = Array.from({ length: n }, (_, k) => `${run}-r${k + 1}/processed`);
  await waitUntil(() => want.every((k) => followed.some((ev) => idOf(ev) === k)), 30000, "the follower to see every outcome");
  for (const k of want) assert.equal(followed.filter((ev) => idOf(ev) === k).length, 1, `${k} followed once`);
  console.log(`follower: ${n} outcomes across the restarts, each once (last stream sequence ${follower.lastSequence})`);
  await follower.stop();
}

async function main() {
  const [mode = "flow", n = "6"] = process.argv.slice(2);
  const reg = await Register.connect(cfg);
  try {
    if (mode === "flow") await flow(reg);
    else if (mode === "restart") await restart(reg, Number(n));
    else throw new Error(`unknown mode ${mode}`);
  } finally {
    await reg.close();
  }
}

main().then(() => process.exit(0), (err) => {
  console.error(`FAIL: ${err.stack || err}`);
  process.exit(1);
});
