(function () {
  "use strict";
  // Renders the agent's snapshots from its event stream. Everything shown
  // comes from the agent, and some of it (sale ids, error messages) from
  // registers: it is only ever set as text, never parsed as markup.
  var body = document.body;
  var offset = 0; // agent clock minus this clock, in ms
  var snap = null;
  var es = null;
  var lastHeard = 0;
  var heartbeat = parseInt(body.dataset.heartbeat, 10) || 15000;

  function $(id) { return document.getElementById(id); }
  function el(tag, cls, text) {
    var n = document.createElement(tag);
    if (cls) { n.className = cls; }
    if (text !== undefined && text !== null) { n.textContent = String(text); }
    return n;
  }
  function clear(n) { while (n.firstChild) { n.removeChild(n.firstChild); } }
  function now() { return Date.now() + offset; }
  function duration(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
    if (d > 0) { return d + "d " + h + "h"; }
    if (h > 0) { return h + "h " + m + "m"; }
    if (m > 0) { return m + "m " + (s % 60) + "s"; }
    return s + "s";
  }
  function ago(iso) {
    var t = Date.parse(iso);
    return isNaN(t) ? "" : duration(now() - t) + " ago";
  }
  function words(s) { return String(s || "").replace(/_/g, " "); }
  function healthClass(v) {
    if (v === "ok" || v === "connected") { return "ok"; }
    if (v === "unknown" || v === "" || v === undefined) { return "muted"; }
    return "bad";
  }

  function renderHealth(s) {
    var overall = $("overall");
    overall.textContent = s.health.status;
    overall.className = "pill " + (s.health.status === "ok" ? "ok" : "bad");
    var list = $("checks");
    clear(list);
    var checks = Object.keys(s.health.checks).sort().map(function (k) { return [k, s.health.checks[k]]; });
    if (s.nats.hub) { checks.push(["hub link", s.nats.hub]); }
    if (s.nats.unknown_pos) { checks.push(["commands for unknown POS", s.nats.unknown_pos + " rejected"]); }
    checks.push(["nats server", s.nats.url + (s.nats.domain ? " (domain " + s.nats.domain + ")" : "")]);
    checks.forEach(function (c) {
      var li = el("li");
      li.dataset.check = c[0];
      li.appendChild(el("span", "", c[0]));
      li.appendChild(el("b", c[0] === "nats server" ? "" : healthClass(c[1]), c[1]));
      list.appendChild(li);
    });
  }

  function row(dl, label, value, cls) {
    if (value === undefined || value === null || value === "") { return null; }
    dl.appendChild(el("dt", "", label));
    var dd = el("dd", cls || "", value);
    dl.appendChild(dd);
    return dd;
  }

  function renderPOS(s) {
    var box = $("pos");
    clear(box);
    s.pos_order.forEach(function (id) {
      var p = s.pos[id];
      var card = el("article", "card");
      card.dataset.pos = id;
      card.dataset.state = p.state;
      var head = el("header");
      head.appendChild(el("h3", "", id));
      head.appendChild(el("span", "pill st-" + p.state, words(p.state)));
      card.appendChild(head);
      var dl = el("dl");
      row(dl, "Mode", p.mode);
      if (p.state === "awaiting_payment") {
        row(dl, "Sale", p.sale_id, "sale");
        row(dl, "Amount", p.amount_text || p.total_amount, "amount");
        row(dl, "Order", p.order_id);
      }
      var le = p.last_event;
      if (le) {
        var dd = row(dl, "Last event", words(le.status) + (le.sale_id ? " · " + le.sale_id : "") + " · " + ago(le.at), "last st-" + le.status);
        if (dd) { dd.dataset.at = le.at; dd.dataset.prefix = words(le.status) + (le.sale_id ? " · " + le.sale_id : "") + " · "; }
      }
      if (p.printer) { row(dl, "Printer", p.printer, "printer st-" + p.printer.split(":")[0]); }
      card.appendChild(dl);
      if (p.display) {
        var a = el("a", "", "customer display");
        a.href = p.display;
        card.appendChild(a);
      }
      box.appendChild(card);
    });
  }

  function renderEvents(s) {
    var list = $("events");
    clear(list);
    $("no-events").hidden = s.events.length > 0;
    for (var i = s.events.length - 1; i >= 0; i--) {
      var ev = s.events[i];
      var li = el("li");
      li.dataset.status = ev.status;
      li.dataset.pos = ev.external_pos_id;
      if (ev.sale_id) { li.dataset.sale = ev.sale_id; }
      var t = el("time", "", ago(ev.at));
      t.dataset.at = ev.at;
      t.dateTime = ev.at;
      t.title = ev.at;
      li.appendChild(t);
      li.appendChild(el("b", "pos", ev.external_pos_id));
      li.appendChild(el("span", "status st-" + ev.status, words(ev.status) + (ev.replay ? " (replay)" : "")));
      var what = [];
      if (ev.sale_id) { what.push("sale " + ev.sale_id); }
      if (ev.amount_text) { what.push(ev.amount_text); }
      if (ev.status_detail && ev.status_detail !== ev.status) { what.push(words(ev.status_detail)); }
      if (ev.refunded_amount) { what.push("refunded " + ev.refunded_amount); }
      if (ev.error) { what.push(ev.error.code + (ev.error.field ? " (" + ev.error.field + ")" : "") + (ev.error.message ? ": " + ev.error.message : "")); }
      li.appendChild(el("span", "what", what.join(" · ")));
      list.appendChild(li);
    }
  }

  function render(s) {
    snap = s;
    $("store").textContent = (s.store_name ? s.store_name + " · " : "") + s.store_id;
    document.title = "posagent " + s.store_id + (s.health.status === "ok" ? "" : " (" + s.health.status + ")");
    $("version").textContent = "posagent " + s.version;
    renderHealth(s);
    renderPOS(s);
    renderEvents(s);
    tick();
  }

  // tick keeps the clocks current between snapshots.
  function tick() {
    if (es && lastHeard && Date.now() - lastHeard > 3 * heartbeat) {
      // A half-open connection (nothing arrives and no error fires), or a
      // stream refused while the agent was at its stream cap: start over.
      connect();
    }
    if (!snap) { return; }
    $("uptime").textContent = duration(now() - Date.parse(snap.started));
    var timed = document.querySelectorAll("[data-at]");
    for (var i = 0; i < timed.length; i++) {
      timed[i].textContent = (timed[i].dataset.prefix || "") + ago(timed[i].dataset.at);
    }
  }

  function setLive(on) {
    body.dataset.live = on ? "1" : "0";
    var p = $("live");
    p.textContent = on ? "live" : "reconnecting…";
    p.className = "pill " + (on ? "ok" : "bad");
  }

  function heard(data) {
    lastHeard = Date.now();
    var t = Date.parse(data.now);
    if (!isNaN(t)) { offset = t - Date.now(); }
  }

  function connect() {
    if (es) { es.close(); }
    lastHeard = Date.now();
    es = new EventSource(body.dataset.stream);
    es.addEventListener("snapshot", function (e) {
      var s = JSON.parse(e.data);
      heard(s);
      setLive(true);
      render(s);
    });
    es.addEventListener("tick", function (e) { heard(JSON.parse(e.data)); });
    es.onerror = function () { setLive(false); };
  }

  setInterval(tick, 1000);
  connect();
})();
