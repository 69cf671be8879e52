(function () {
  "use strict";
  // Customer display page: shows the screens of one POS as the agent sends
  // them over Server-Sent Events. Everything it shows arrives as plain text
  // (set with textContent) except the QR, an SVG the agent generates from
  // numbers only.
  var body = document.body;
  var eventsURL = body.dataset.events;
  var version = body.dataset.version;
  var heartbeat = Number(body.dataset.heartbeat) || 15000;
  var offset = 0;        // the agent's clock minus ours, in ms
  var current = null;    // the screen on display
  var es = null;         // the open EventSource
  var lastHeard = 0;     // when the stream last said anything (our clock)
  var retryDelay = 1000; // after a refused connection, doubling to 30 s

  function el(id) { return document.getElementById(id); }
  function text(id, s) { el(id).textContent = s || ""; }

  // clockFrom takes the agent's time from an event: the page's countdown
  // is right even when the browser's clock is not.
  function clockFrom(msg) {
    if (typeof msg.now === "number") { offset = msg.now - Date.now(); }
  }

  // countdown says the time left as the agent's other displays do
  // (internal/display/screen.go): "14 min", "1 h 05 min", "45 s" in the
  // last minute; never "14:12", which reads like a clock time.
  function countdown(ms) {
    var secs = Math.max(0, Math.ceil(ms / 1000));
    if (secs < 60) { return secs + " s"; }
    var mins = Math.max(1, Math.floor(ms / 60000));
    if (mins < 60) { return mins + " min"; }
    var m = mins % 60;
    return Math.floor(mins / 60) + " h " + (m < 10 ? "0" : "") + m + " min";
  }

  function tick() {
    if (!current || current.state !== "awaiting_payment" || !current.expires_at) {
      text("countdown", "");
      return;
    }
    text("countdown", current.expires_in + " " + countdown(current.expires_at - (Date.now() + offset)));
  }

  // fitQR sizes the QR to a whole number of device pixels per module, the
  // largest that fits its box, so every module edge is crisp.
  function fitQR() {
    var box = el("qr"), svg = box.firstElementChild;
    if (!svg || !current || !current.qr_size) { return; }
    var dpr = window.devicePixelRatio || 1;
    var avail = Math.min(box.clientWidth, box.clientHeight) * dpr;
    var module = Math.max(1, Math.floor(avail / current.qr_size));
    var px = module * current.qr_size / dpr;
    svg.setAttribute("width", px);
    svg.setAttribute("height", px);
  }

  // fitText shrinks an element's font until its text fits its width: an
  // amount or a sentence is never cut. Hidden elements have no width.
  function fitText(e) {
    e.style.fontSize = "";
    for (var i = 0; i < 30 && e.clientWidth > 0 && e.scrollWidth > e.clientWidth; i++) {
      e.style.fontSize = (parseFloat(getComputedStyle(e).fontSize) * 0.92) + "px";
    }
  }

  function fitAll() {
    Array.prototype.forEach.call(document.querySelectorAll(".fit"), fitText);
  }

  function show(s) {
    current = s;
    document.documentElement.lang = s.lang || "en";
    body.dataset.state = s.state;
    body.dataset.pos = s.pos;
    switch (s.state) {
    case "idle":
      text("idle-store", s.store_name);
      text("idle-welcome", s.welcome);
      break;
    case "cart":
      text("cart-store", s.store_name);
      var ul = el("cart-lines");
      ul.textContent = "";
      (s.lines || []).forEach(function (l) {
        var li = document.createElement("li");
        var t = document.createElement("span"), a = document.createElement("span");
        t.className = "t"; a.className = "a";
        t.textContent = l.title; a.textContent = l.amount;
        li.appendChild(t); li.appendChild(a);
        ul.appendChild(li);
      });
      text("cart-more", s.more);
      text("cart-total-label", s.total_label);
      text("cart-total-amount", s.total);
      text("cart-message", s.message);
      break;
    case "awaiting_payment":
      el("qr").innerHTML = s.qr_svg;
      text("amount-label", s.amount_label);
      text("amount", s.amount);
      text("scan", s.scan);
      text("await-store", s.store_name);
      break;
    default:
      text("result-title", s.title);
      text("result-amount", s.amount);
      text("result-sub", s.sub);
    }
    if (s.state !== "awaiting_payment") { el("qr").textContent = ""; }
    tick();
    fitQR();
    fitAll();
  }

  function online(on) { body.classList.toggle("offline", !on); }

  function heard(e) {
    lastHeard = Date.now();
    online(true);
    retryDelay = 1000;
    var msg = JSON.parse(e.data);
    if (msg.v && msg.v !== version) {
      location.reload(); // the agent was upgraded: fetch the new page
      return null;
    }
    clockFrom(msg);
    return msg;
  }

  function connect() {
    lastHeard = Date.now();
    es = new EventSource(eventsURL);
    es.addEventListener("screen", function (e) {
      var msg = heard(e);
      if (msg && msg.screen) { show(msg.screen); }
    });
    es.addEventListener("tick", heard);
    es.onerror = function () {
      online(false);
      // A network error reconnects by itself; a refused one (the agent
      // answering 503 while it stops) closes the EventSource for good, so
      // start a new one.
      if (es && es.readyState === EventSource.CLOSED) {
        es = null;
        setTimeout(connect, retryDelay);
        retryDelay = Math.min(retryDelay * 2, 30000);
      }
    };
  }

  // A stream silent for three heartbeats is a dead connection nobody
  // noticed (a half-open TCP connection): start over.
  setInterval(function () {
    if (es && Date.now() - lastHeard > 3 * heartbeat) {
      es.close();
      es = null;
      online(false);
      connect();
    }
  }, 1000);
  setInterval(tick, 250);
  window.addEventListener("resize", function () {
    fitQR();
    fitAll();
  });
  connect();
})();
