// posagent register kit for Node: send sales, cancels and refunds to a
// posagent over NATS JetStream, and follow the events that answer them.
// The protocol is described in docs/protocol.md of the posagent repository.
//
//   const { Register } = require("./posagent");
//   const reg = await Register.connect({ servers: "nats://127.0.0.1:4222", store: "S001", pos: "STORE001POS001" });
//   const ev = await reg.sale({ sale_id: "000123", total_amount: "150.00" }, { onEvent: (e) => show(e) });
//   // ev.status: "processed" (paid), "expired", "canceled", "rejected" or "failed"
"use strict";

const { connect, DeliverPolicy } = require("nats");

const FINAL_SALE = new Set(["processed", "expired", "canceled"]);
const COMMAND_ANSWER = new Set(["rejected", "failed"]);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// eventKey is an event's identity: a live subscriber may see one event twice
// (the agent crashed between publishing and recording it), a replay repeats
// one; both have the same key.
function eventKey(ev, msgID) {
  if (COMMAND_ANSWER.has(ev.status)) return msgID || `${ev.status}:${ev.sale_id}:${ev.at}`;
  return [ev.external_pos_id, ev.sale_id || "", ev.status, ev.refund_id || ""].join("\u0000");
}

// commandSeq is the stream sequence of the command a rejected or failed
// event answers, read from its Nats-Msg-Id (<store>.<pos>.cmd.<seq>.<status>).
function commandSeq(msgID) {
  const m = /\.cmd\.(\d+)\.[a-z_]+$/.exec(msgID || "");
  return m ? Number(m[1]) : 0;
}

// EventFollower reads one POS's events from the events stream, in order,
// starting at a stream sequence (or at a time), and resumes after a
// disconnect or an agent restart from the event after the last one it
// handed out. Each event is handed out once, judged by eventKey.
class EventFollower {
  constructor(nc, { prefix = "pos", store, pos = "*", stream = "POS_EVT", startSeq = 0, startTime, onEvent }) {
    this.nc = nc;
    this.js = nc.jetstream();
    this.subject = `${prefix}.${store}.${pos}.evt.>`;
    this.stream = stream;
    this.lastSeq = startSeq > 0 ? startSeq - 1 : 0;
    this.startTime = startTime || new Date();
    this.onEvent = onEvent;
    this.seen = new Set();
    this.stopped = false;
    this.done = this._run();
  }

  // lastSequence is the stream sequence of the last event handed out: keep
  // it, and pass lastSequence + 1 as startSeq after the register restarts.
  get lastSequence() {
    return this.lastSeq;
  }

  async _consumer() {
    const opts = { filterSubjects: [this.subject] };
    if (this.lastSeq > 0) {
      opts.deliver_policy = DeliverPolicy.StartSequence;
      opts.opt_start_seq = this.lastSeq + 1;
    } else {
      opts.deliver_policy = DeliverPolicy.StartTime;
      opts.opt_start_time = this.startTime.toISOString();
    }
    return this.js.consumers.get(this.stream, opts);
  }

  async _run() {
    while (!this.stopped && !this.nc.isClosed()) {
      try {
        const c = await this._consumer();
        this.iter = await c.consume({ max_messages: 100, expires: 2000 });
        for await (const m of this.iter) {
          this.lastSeq = m.seq;
          this._deliver(m);
        }
      } catch (err) {
        // The server is restarting or the stream is not there yet: try
        // again from the last sequence handed out.
      }
      if (!this.stopped) await sleep(250);
    }
  }

  _deliver(m) {
    let ev;
    try {
      ev = JSON.parse(new TextDecoder().decode(m.data));
    } catch {
      return;
    }
    const msgID = m.headers ? m.headers.get("Nats-Msg-Id") : "";
    const key = eventKey(ev, msgID);
    if (this.seen.has(key)) return;
    this.seen.add(key);
    if (this.seen.size > 10000) this.seen.delete(this.seen.values().next().value);
    this.onEvent(ev, { seq: m.seq, msgID, subject: m.subject });
  }

  async stop() {
    this.stopped = true;
    if (this.iter) this.iter.stop();
    await this.done;
  }
}

// Register is one POS's side of posagent: it publishes commands with
// JetStream, retrying until the stream acknowledges them (a core publish
// made while the agent and its NATS restart is lost), and waits for the
// events that answer them, from a live subscription (which also sees
// replays) and from the events stream (which survives reconnects).
class Register {
  static async connect({ servers, store, pos, prefix = "pos", user, pass, token, name = "posagent-register-node" }) {
    const nc = await connect({
      servers, user, pass, token, name,
      maxReconnectAttempts: -1, reconnectTimeWait: 250, waitOnFirstConnect: true,
    });
    return new Register(nc, { store, pos, prefix });
  }

  constructor(nc, { store, pos, prefix = "pos", eventsStream = "POS_EVT" }) {
    if (!store || !pos) throw new Error("posagent: store and pos are required");
    this.nc = nc;
    this.js = nc.jetstream();
    this.prefix = prefix;
    this.store = store;
    this.pos = pos;
    this.waiters = new Set();
    this.dispatched = new Set(); // eventKey of every event handed to waiters
    this.answers = new Map(); // command seq -> rejected/failed event, for commands not yet acked
    this.sub = nc.subscribe(`${prefix}.${store}.${pos}.evt.>`, {
      callback: (err, m) => {
        if (err) return;
        try {
          const ev = JSON.parse(new TextDecoder().decode(m.data));
          this._dispatch(ev, m.headers ? m.headers.get("Nats-Msg-Id") : "");
        } catch {
          // not an event
        }
      },
    });
    this.follower = new EventFollower(nc, {
      prefix, store, pos, stream: eventsStream,
      startTime: new Date(Date.now() - 1000),
      onEvent: (ev, meta) => this._dispatch(ev, meta.msgID),
    });
  }

  subject(verb) {
    return `${this.prefix}.${this.store}.${this.pos}.cmd.${verb}`;
  }

  // publish stores a command in the command stream, sending the same bytes
  // again until a PubAck arrives or timeoutMs passes; returns the PubAck.
  async publish(verb, command, { timeoutMs = 120000, onRetry } = {}) {
    const data = new TextEncoder().encode(JSON.stringify(command));
    const deadline = Date.now() + timeoutMs;
    for (let attempt = 1, wait = 100; ; attempt++) {
      try {
        return await this.js.publish(this.subject(verb), data, { timeout: 2000 });
      } catch (err) {
        if (Date.now() + wait > deadline) throw new Error(`posagent: ${verb} not stored after ${attempt} attempts: ${err.message}`);
        if (onRetry) onRetry(attempt, err);
        await sleep(wait);
        wait = Math.min(wait * 2, 2000);
      }
    }
  }

  // _dispatch hands an event to the waiting commands once: the live
  // subscription and the stream usually both bring it. A replay (live only)
  // always passes: it is the answer to a resend.
  _dispatch(ev, msgID) {
    const key = eventKey(ev, msgID);
    if (this.dispatched.has(key) && !ev.replay) return;
    this.dispatched.add(key);
    if (this.dispatched.size > 10000) this.dispatched.delete(this.dispatched.values().next().value);
    if (COMMAND_ANSWER.has(ev.status)) {
      const seq = commandSeq(msgID);
      if (seq) {
        this.answers.set(seq, ev);
        if (this.answers.size > 1000) this.answers.delete(this.answers.keys().next().value);
      }
    }
    for (const w of [...this.waiters]) w.offer(ev, msgID);
  }

  // _command publishes a command and resolves with the first event isFinal
  // accepts, or with the rejected/failed event answering this command.
  async _command(verb, command, isFinal, { onEvent, waitMs = 15 * 60 * 1000, ...pubOpts } = {}) {
    let resolve, reject;
    const result = new Promise((res, rej) => { resolve = res; reject = rej; });
    const seen = new Set();
    const waiter = {
      seq: 0,
      offer: (ev, msgID) => {
        const answersMe = COMMAND_ANSWER.has(ev.status) && waiter.seq && commandSeq(msgID) === waiter.seq;
        if (!answersMe && ev.sale_id !== command.sale_id) return;
        const key = eventKey(ev, msgID);
        if (onEvent && !COMMAND_ANSWER.has(ev.status) && !seen.has(key)) onEvent(ev);
        seen.add(key);
        if (answersMe || isFinal(ev)) resolve(ev);
      },
    };
    this.waiters.add(waiter);
    const timer = setTimeout(() => reject(new Error(`posagent: no answer to ${verb} ${command.sale_id} in ${waitMs} ms`)), waitMs);
    try {
      const ack = await this.publish(verb, command, pubOpts);
      waiter.seq = ack.seq;
      const early = this.answers.get(ack.seq);
      if (early) {
        if (onEvent) onEvent(early);
        resolve(early);
      }
      return await result;
    } finally {
      clearTimeout(timer);
      this.waiters.delete(waiter);
    }
  }

  // sale sends a sale and resolves with its final event: processed,
  // expired, canceled, or rejected/failed. onEvent sees every event of the
  // sale on the way (created carries the qr_data). A resent sale resolves
  // with the sale's latest event marked replay: true.
  sale(sale, opts = {}) {
    return this._command("sale", sale, (ev) => FINAL_SALE.has(ev.status), opts);
  }

  // cancel cancels a sale's order and resolves with the sale's final event
  // (canceled, or processed/expired if that happened first) or rejected.
  cancel(saleID, opts = {}) {
    return this._command("cancel", { sale_id: saleID }, (ev) => FINAL_SALE.has(ev.status), opts);
  }

  // refund refunds a paid sale, in full (no amount) or in part (amount and
  // refundID), and resolves with the refunded event or rejected/failed.
  refund(saleID, { amount, refundID, ...opts } = {}) {
    const cmd = { sale_id: saleID };
    if (amount !== undefined) cmd.amount = amount;
    if (refundID !== undefined) cmd.refund_id = refundID;
    const id = refundID || "total";
    return this._command("refund", cmd, (ev) => ev.status === "refunded" && ev.refund_id === id, opts);
  }

  // status asks the agent for the POS's state.
  async status({ timeoutMs = 2000 } = {}) {
    const m = await this.nc.request(`${this.prefix}.${this.store}.${this.pos}.status`, new Uint8Array(), { timeout: timeoutMs });
    return JSON.parse(new TextDecoder().decode(m.data));
  }

  async close() {
    await this.follower.stop();
    await this.nc.drain();
  }
}

module.exports = { Register, EventFollower, eventKey, commandSeq };
