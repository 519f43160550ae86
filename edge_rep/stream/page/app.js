// edge-rep live view: follows /events (Server-Sent Events). The first event of each connection is a
// "snapshot" (the page's whole state, as /state.json); each later message is one record, with a window's
// spectrogram columns. EventSource reconnects by itself and the server starts it again from a snapshot.
"use strict";

const HISTORY = 300;          // windows drawn (the server keeps as many)
const EVENTS_SHOWN = 50;
const PALETTE = ["#6e7681", "#3fb950", "#d29922", "#58a6ff", "#f778ba", "#a371f7", "#f85149", "#56d4dd",
                 "#e3b341", "#8ddb8c"];
// colour map anchors (dark blue -> purple -> orange -> pale yellow), for the spectrogram
const CMAP = [[0, 0, 4], [40, 11, 84], [101, 21, 110], [159, 42, 99], [212, 72, 66], [245, 125, 21],
              [250, 193, 39], [252, 255, 164]];

let S = null;                 // the state: a snapshot, kept up to date by the messages

const $ = (id) => document.getElementById(id);

function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function fmt(v, digits) {
  return typeof v === "number" && isFinite(v) ? v.toFixed(digits) : "–";
}

function scenarioText(s) {
  return s ? s.replace(/_missing/g, " missing").replace(/\+/g, " + ").replace("all missing", "nothing present") : "–";
}

function setConn(state, text) {
  const c = $("conn");
  c.dataset.state = state;
  c.textContent = text;
}

function connect() {
  const es = new EventSource("events");
  es.addEventListener("snapshot", (e) => {
    S = JSON.parse(e.data);
    setConn("live", "live");
    renderAll();
  });
  es.onmessage = (e) => {
    if (S) apply(JSON.parse(e.data));
  };
  es.onerror = () => setConn("lost", "connection lost, retrying");
}

function push(list, item, max) {
  list.push(item);
  if (list.length > max) list.splice(0, list.length - max);
}

function apply(msg) {
  S.seq = msg.seq;
  const r = msg.record;
  if (r.type === "window") {
    S.latest = r;
    Object.assign(S.health, r.health || {});
    push(S.windows, {boot: r.boot, window: r.window, board_time: r.board_time, label: r.label,
                     confidence: r.confidence, scenario: r.scenario, replay: r.replay}, HISTORY);
    for (const [m, col] of Object.entries(msg.columns || {})) {
      if (!S.columns[m]) S.columns[m] = [];
      push(S.columns[m], col, HISTORY);
    }
    renderWindow();
    renderHealth();
    renderStrip();
    renderSpectra();
  } else {
    if (r.type === "health" && r.channel) S.health[r.channel] = r.to;
    push(S.events, r, EVENTS_SHOWN);
    renderHealth();
    renderEvents();
  }
  renderStats();
}

function renderAll() {
  $("node").textContent = S.node;
  $("model").textContent = `model ${S.model} · profile ${S.profile.name} (${S.profile.window_s} s windows every ` +
    `${S.profile.hop_s} s)`;
  document.title = `edge-rep ${S.node}`;
  renderWindow();
  renderHealth();
  renderStrip();
  renderSpectra();
  renderEvents();
  renderStats();
}

function renderWindow() {
  const r = S.latest;
  const panel = $("window-panel");
  if (!r) return;
  panel.dataset.window = r.window;
  panel.dataset.boot = r.boot;
  $("label").textContent = r.label === null ? "no modality present" : r.label;
  $("confidence").textContent = r.confidence === null ? "" : r.confidence.toFixed(2) +
    (r.uncertain === true ? " (uncertain)" : "");
  $("when").textContent = `window ${r.window} · board time ${fmt(r.board_time, 1)} s` +
    (r.boot ? ` · boot ${r.boot}` : "") + ` · ${new Date(r.host_time * 1000).toLocaleTimeString()}`;
  $("scenario").textContent = scenarioText(r.scenario);
  panel.dataset.scenarioMissing = r.scenario === "complete" ? "no" : "yes";
  let replay;
  if (r.replay && r.replay.length) {
    replay = "replaying " + r.replay.map((m) => `${m} (${fmt(r.buffer_age_s[m], 0)} s old)`).join(", ");
  } else if (r.scenario !== "complete" && r.label !== null) {
    replay = "the scenario's learned buffers";
  } else {
    replay = "not needed";
  }
  $("replay").textContent = replay;
  panel.dataset.replay = r.replay && r.replay.length ? "yes" : "no";
  const levels = [];
  for (const m of Object.keys(S.modalities)) {
    const cols = S.columns[m] || [];
    const last = cols[cols.length - 1];
    const flag = (r.level_flags || {})[m];
    if (last && last.level_db !== null) {
      levels.push(`${m} ${fmt(last.level_db, 1)} dB${flag ? " (" + flag + ")" : ""}`);
    }
  }
  $("levels").textContent = levels.length ? levels.join(", ") : "–";
  $("latency").textContent = r.latency_ms === null ? "–" :
    `${fmt(r.latency_ms, 1)} ms (model ${fmt(r.backend_ms, 1)} ms)`;
  const body = $("probs").tBodies[0];
  body.replaceChildren();
  for (const c of S.classes) {
    const p = r.probs ? r.probs[c] : null;
    const tr = el("tr", {"data-class": c, class: r.label === c ? "top" : ""});
    tr.append(el("td", {}, c), el("td", {class: "num"}, p === null ? "–" : p.toFixed(2)));
    const bar = el("td", {class: "bar"});
    const fill = el("div", {class: "fill"});
    fill.style.width = `${Math.round(100 * (p || 0))}%`;
    bar.append(fill);
    tr.append(bar);
    body.append(tr);
  }
}

function renderHealth() {
  const ul = $("health");
  ul.replaceChildren();
  for (const ch of Object.keys(S.health).sort()) {
    const li = el("li", {"data-channel": ch, "data-state": S.health[ch]});
    li.append(el("span", {class: "name"}, ch), el("span", {class: "state"}, S.health[ch]));
    ul.append(li);
  }
}

function classColour(label) {
  const i = S.classes.indexOf(label);
  return label === null || i < 0 ? "#30363d" : PALETTE[i % PALETTE.length];
}

function renderStrip() {
  const cv = $("label-strip");
  cv.width = HISTORY;
  cv.height = 1;
  const ctx = cv.getContext("2d");
  ctx.clearRect(0, 0, HISTORY, 1);
  const ws = S.windows;
  ws.forEach((w, i) => {
    ctx.fillStyle = classColour(w.label);
    ctx.fillRect(HISTORY - ws.length + i, 0, 1, 1);
  });
  const legend = $("label-legend");
  if (!legend.childElementCount) {
    for (const c of S.classes) {
      const li = el("li", {}, c);
      const sw = el("i");
      sw.style.background = classColour(c);
      li.prepend(sw);
      legend.append(li);
    }
  }
}

function colour(v) {           // v in [0, 1]
  const x = Math.min(Math.max(v, 0), 1) * (CMAP.length - 1);
  const i = Math.min(Math.floor(x), CMAP.length - 2);
  const f = x - i;
  return CMAP[i].map((a, k) => Math.round(a + f * (CMAP[i + 1][k] - a)));
}

function percentile(sorted, q) {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : 0;
}

function spectrumBox(m) {
  let box = document.getElementById(`spectrum-${m}`);
  if (box) return box;
  const info = S.modalities[m];
  box = el("div", {id: `spectrum-${m}`, class: "spectrum", "data-modality": m});
  const title = el("div", {class: "title"});
  title.append(el("strong", {}, m), el("span", {class: "dim", id: `level-${m}`}));
  const axis = el("div", {class: "axis"});
  const b = info.bands_hz;
  axis.append(el("span", {}, `${fmt(b[0], 1)} Hz (bottom) to ${fmt(b[b.length - 1], 0)} Hz (top), ` +
                             "log scale; white line: level"),
              el("span", {class: "scale", id: `scale-${m}`}));
  const cv = el("canvas", {id: `spec-${m}`, width: "600", height: "140"});
  box.append(title, cv, axis);
  $("spectra-list").append(box);
  return box;
}

function renderSpectra() {
  for (const m of Object.keys(S.modalities)) {
    spectrumBox(m);
    const cols = S.columns[m] || [];
    const info = S.modalities[m];
    const nb = info.bands_hz.length - 1;
    const values = [];
    for (const c of cols) if (c.db) for (const v of c.db) if (v > -290) values.push(v);
    values.sort((a, b) => a - b);
    const lo = percentile(values, 0.02), hi = Math.max(percentile(values, 0.995), lo + 1);
    const img = new ImageData(HISTORY, nb);
    const off = HISTORY - cols.length;
    cols.forEach((c, i) => {
      for (let b = 0; b < nb; b++) {
        const p = ((nb - 1 - b) * HISTORY + off + i) * 4;       // low frequencies at the bottom
        let rgb;
        if (c.db) rgb = colour((c.db[b] - lo) / (hi - lo));
        else rgb = c.replay ? [24, 48, 80] : [48, 48, 48];     // missing: replayed buffers tinted blue
        img.data[p] = rgb[0];
        img.data[p + 1] = rgb[1];
        img.data[p + 2] = rgb[2];
        img.data[p + 3] = 255;
      }
    });
    const cv = $(`spec-${m}`);
    const ctx = cv.getContext("2d");
    const tmp = document.createElement("canvas");
    tmp.width = HISTORY;
    tmp.height = nb;
    tmp.getContext("2d").putImageData(img, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, cv.width, cv.height);
    ctx.drawImage(tmp, 0, 0, cv.width, cv.height);
    // the level strip: each window's level (dB re 1 unit) as a line over the spectrogram
    const levels = cols.map((c) => c.level_db).filter((v) => v !== null);
    const lmin = Math.min(...levels) - 3, lmax = Math.max(...levels) + 3;
    const xs = cv.width / HISTORY;
    ctx.strokeStyle = "#ffffff";
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    let pen = false;
    cols.forEach((c, i) => {
      if (c.level_db === null) {
        pen = false;
        return;
      }
      const x = (off + i + 0.5) * xs;
      const y = cv.height - ((c.level_db - lmin) / (lmax - lmin)) * cv.height;
      if (pen) ctx.lineTo(x, y);
      else ctx.moveTo(x, y);
      pen = true;
    });
    ctx.stroke();
    const last = cols[cols.length - 1];
    $(`level-${m}`).textContent = last ? (last.level_db === null ? "not present" :
      `level ${fmt(last.level_db, 1)} dB re 1 ${info.units}` + (last.replay ? " · replaying buffers" : "")) : "";
    $(`scale-${m}`).textContent = values.length ? `colour ${fmt(lo, 0)} to ${fmt(hi, 0)} dB re 1 ${info.units}²/Hz` : "";
  }
}

function eventText(r) {
  if (r.type === "health") return [`${r.channel}`, `${r.from} → ${r.to} (${r.reason})`];
  if (r.type === "notice") return [r.event, r.message || ""];
  // a record type this page does not know (detections, later additions): its message, else its fields
  if (r.message) return [r.type, r.message];
  const skip = new Set(["type", "schema", "node", "host_time", "boot", "board_time"]);
  const parts = Object.entries(r).filter(([k, v]) => !skip.has(k) && (v === null || typeof v !== "object"))
    .map(([k, v]) => `${k}=${typeof v === "number" ? +v.toFixed(3) : v}`);
  return [r.type || "record", parts.join(" ")];
}

function renderEvents() {
  const ol = $("events");
  ol.replaceChildren();
  for (const r of S.events.slice().reverse()) {
    const [kind, text] = eventText(r);
    const li = el("li", {"data-type": r.type || "record"});
    const t = typeof r.board_time === "number" ? `t=${r.board_time.toFixed(2)}s` : new Date(r.host_time * 1000)
      .toLocaleTimeString();
    li.append(el("span", {class: "dim"}, t.padEnd(10) + " "), el("span", {class: "kind"}, kind), " " + text);
    ol.append(li);
  }
}

function renderStats() {
  $("stats").textContent = `message ${S.seq} · ${S.windows.length} windows shown`;
}

connect();
