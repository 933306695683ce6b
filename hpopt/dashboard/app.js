// hpopt dashboard: fetch the run as JSON every 2 s and draw it. Run data only ever reaches the page as
// text (textContent, option text, Plotly strings with < > & escaped): never as HTML.
"use strict";

const POLL_MS = 2000;
const state = { run: 0, runs: [], compared: "", data: null, sortCol: "trial_id", sortDir: 1, filter: "", timer: null, columns: "", drawn: "" };

function $(id) { return document.getElementById(id); }
function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}
// Plotly reads a few HTML-like tags in its strings; escape so run data is shown as the text it is.
function pt(value) { return String(value).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;"); }
function label(col) { return col.startsWith("params_") ? col.slice(7) : col; }
function fmt(value, col) {
  if (value === null || value === undefined) return "";
  if (col === "issued_at" && typeof value === "number") return new Date(value * 1000).toLocaleString();
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toPrecision(5);
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}
function duration(s) {
  if (s === null || s === undefined) return "-";
  s = Math.max(0, Math.round(s));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  return h ? `${h}h${String(m).padStart(2, "0")}m` : `${m}m${String(sec).padStart(2, "0")}s`;
}

async function getJson(url) {
  const response = await fetch(url, { cache: "no-store" });
  return response.json();
}

async function loadRuns() {
  const runs = await getJson("/api/runs");
  state.runs = runs;
  const select = $("run-select");
  select.replaceChildren();
  for (const run of runs) {
    const option = el("option", `${run.index}: ${run.save_path}`);
    option.value = String(run.index);
    select.appendChild(option);
  }
  select.addEventListener("change", () => { state.run = Number(select.value); state.columns = ""; state.drawn = ""; poll(); });
  $("filter").addEventListener("input", (event) => { state.filter = event.target.value.toLowerCase(); drawTable(); });
  poll();
}

async function poll() {
  clearTimeout(state.timer);
  try {
    const data = await getJson(`/api/run/${state.run}`);
    state.data = data;
    draw(data);
    if (state.runs.length > 1) drawCompare(await Promise.all(state.runs.map((r) => getJson(`/api/run/${r.index}`))));
  } catch (err) {
    $("error").textContent = `cannot reach the dashboard server: ${err}`;
  }
  state.timer = setTimeout(poll, POLL_MS);
}

function draw(data) {
  $("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
  $("error").textContent = data.error ? `this run cannot be read: ${data.error}` : "";
  if (data.error) return;
  drawSummary(data);
  drawTable();
  const key = JSON.stringify([data.rows, data.scores, data.importance]);
  if (key === state.drawn || typeof Plotly === "undefined") return;
  state.drawn = key;
  drawCurves(data);
  drawHistory(data);
  drawSlices(data);
  drawParallel(data);
  drawImportance(data);
}

function drawSummary(data) {
  const s = data.summary, plan = s.plan, box = $("summary");
  const lines = [];
  lines.push(["run", `${data.save_path} (${s.algorithm}, mode=${s.mode}, metric=${s.metric ?? "-"})`]);
  lines.push(["trials", `${plan.trials_finished} finished of ${plan.trials_planned ?? "?"} planned (${plan.trials_issued} issued)`]);
  lines.push(["time", `asked ${duration(plan.time_asked_s)}, used ${duration(plan.wall_s)}, ETA ${plan.eta_s === 0 ? "finished" : duration(plan.eta_s)}`]);
  box.replaceChildren();
  for (const [name, text] of lines) {
    const row = el("div");
    row.appendChild(el("b", `${name}: `));
    row.appendChild(el("span", text));
    box.appendChild(row);
  }
  box.appendChild(el("div", s.plan_line));
  const best = el("div");
  best.appendChild(el("b", "best: "));
  if (s.best) {
    const score = el("span", fmt(s.best.score));
    score.id = "best-score";
    best.appendChild(el("span", `trial ${s.best.trial_id}, score `));
    best.appendChild(score);
    best.appendChild(el("span", `, params ${JSON.stringify(s.best.params)}`));
  } else {
    best.appendChild(el("span", "none yet (no finished trial with a score)"));
  }
  best.id = "best";
  box.appendChild(best);
}

function compare(a, b) {
  if (a === b) return 0;
  if (a === null || a === undefined) return 1;  // empty cells last either way
  if (b === null || b === undefined) return -1;
  if (typeof a === "number" && typeof b === "number") return (a - b) * state.sortDir;
  return String(a).localeCompare(String(b)) * state.sortDir;
}

function drawHeader(columns) {
  const tr = el("tr");
  for (const col of columns) {
    const arrow = col === state.sortCol ? (state.sortDir > 0 ? " \u25b2" : " \u25bc") : "";
    const th = el("th", label(col) + arrow);
    th.dataset.col = col;
    th.addEventListener("click", () => {
      state.sortDir = state.sortCol === col ? -state.sortDir : 1;
      state.sortCol = col;
      drawHeader(columns);
      drawTable();
    });
    tr.appendChild(th);
  }
  $("trials").tHead.replaceChildren(tr);
}

function drawTable() {
  const data = state.data;
  if (!data || data.error) return;
  const columns = data.columns;
  if (state.columns !== JSON.stringify(columns)) {
    state.columns = JSON.stringify(columns);
    drawHeader(columns);
  }
  let rows = data.rows.slice();
  if (state.filter) rows = rows.filter((r) => columns.some((c) => fmt(r[c], c).toLowerCase().includes(state.filter)));
  rows.sort((a, b) => compare(a[state.sortCol], b[state.sortCol]) || a.trial_id - b.trial_id);
  const body = $("trials").tBodies[0];
  body.replaceChildren();
  for (const row of rows) {
    const tr = el("tr");
    tr.dataset.trial = String(row.trial_id);
    for (const col of columns) tr.appendChild(el("td", fmt(row[col], col), typeof row[col] === "number" ? "" : "text"));
    body.appendChild(tr);
  }
  $("shown").textContent = `${rows.length} of ${data.rows.length} trials`;
}

const LAYOUT = { margin: { l: 55, r: 15, t: 35, b: 45 }, showlegend: false };
const CONFIG = { displaylogo: false, displayModeBar: false, responsive: true };

function drawCurves(data) {
  const traces = Object.entries(data.scores).map(([tid, scores]) => ({
    x: scores.map((_, i) => i + 1), y: scores, mode: "lines+markers", name: `trial ${tid}`, type: "scatter",
  }));
  const rungs = [...new Set((data.rungs_in_brackets || []).flat())];
  const shapes = rungs.map((r) => ({ type: "line", x0: r, x1: r, yref: "paper", y0: 0, y1: 1, line: { dash: "dot", color: "#999" } }));
  Plotly.react("curves", traces, { ...LAYOUT, title: { text: rungs.length ? "learning curves (dotted: ASHA rungs)" : "learning curves" }, shapes,
    xaxis: { title: { text: "epoch" } }, yaxis: { title: { text: pt(data.summary.metric || "score") } } }, CONFIG);
}

function drawHistory(data) {
  const h = data.history;
  const traces = [
    { x: h.map((p) => p.trial_id), y: h.map((p) => p.score), mode: "markers", type: "scatter", name: "trial" },
    { x: h.map((p) => p.trial_id), y: h.map((p) => p.best), mode: "lines", type: "scatter", name: "best so far", line: { shape: "hv" } },
  ];
  Plotly.react("history", traces, { ...LAYOUT, title: { text: "best so far" }, xaxis: { title: { text: "trial" } } }, CONFIG);
}

function finishedRows(data) {
  return data.rows.filter((r) => (r.status === "done" || r.status === "stopped") && r.best_score !== null);
}

function drawSlices(data) {
  const box = $("slices");
  const rows = finishedRows(data);
  box.replaceChildren();
  data.params.forEach((name, i) => {
    const div = el("div", null, "chart small");
    div.id = `slice-${i}`;
    box.appendChild(div);
    const spec = data.space[name] || {};
    const values = rows.map((r) => r["params_" + name]);
    const numeric = values.every((v) => typeof v === "number");
    Plotly.newPlot(div, [{ x: numeric ? values : values.map((v) => pt(fmt(v))), y: rows.map((r) => r.best_score),
      text: rows.map((r) => `trial ${r.trial_id}`), mode: "markers", type: "scatter" }],
    { ...LAYOUT, title: { text: pt(name) }, xaxis: { type: numeric ? (spec.type === "loguniform" ? "log" : "linear") : "category" } }, CONFIG);
  });
}

function drawParallel(data) {
  const rows = finishedRows(data);
  const dims = data.params.map((name) => {
    const values = rows.map((r) => r["params_" + name]);
    if (values.every((v) => typeof v === "number")) {
      const log = (data.space[name] || {}).type === "loguniform";
      return { label: pt(log ? `log10(${name})` : name), values: log ? values.map(Math.log10) : values };
    }
    const cats = [...new Set(values.map((v) => fmt(v)))];
    return { label: pt(name), values: values.map((v) => cats.indexOf(fmt(v))), tickvals: cats.map((_, i) => i), ticktext: cats };  // parcoords ticks are SVG text as is
  });
  const scores = rows.map((r) => r.best_score);
  dims.push({ label: pt(data.summary.metric || "score"), values: scores });
  Plotly.react("parallel", [{ type: "parcoords", dimensions: dims, line: { color: scores, colorscale: "Viridis", showscale: true } }],
    { margin: { l: 60, r: 60, t: 50, b: 30 } }, CONFIG);
}

function drawImportance(data) {
  const imp = data.importance || {};
  $("importance-note").textContent = imp.note || "";
  if (!imp.values) { Plotly.purge("importance"); return; }
  const names = Object.keys(imp.values).reverse();
  Plotly.react("importance", [{ type: "bar", orientation: "h", y: names.map(pt), x: names.map((n) => imp.values[n]) }],
    { ...LAYOUT, margin: { l: 140, r: 15, t: 35, b: 45 }, title: { text: "share of permutation importance" } }, CONFIG);
}

window.addEventListener("DOMContentLoaded", loadRuns);

// Several runs (hpopt dashboard DIR1 DIR2 ...): one row each and their best-so-far curves in one chart.
function drawCompare(all) {
  $("compare-section").hidden = false;
  const body = $("compare-table").tBodies[0];
  body.replaceChildren();
  all.forEach((d, i) => {
    const tr = document.createElement("tr");
    const s = d.error ? null : d.summary, plan = s ? s.plan : null;
    const cells = [String(i), d.save_path, d.error ? `error: ${d.error}` : (s.algorithm || ""),
      plan ? `${plan.trials_finished} / ${plan.trials_planned}` : "",
      s && s.best ? fmt(s.best.score, "best_score") : "-",
      plan ? `${duration(plan.wall_s)} / ${plan.time_asked_s === null ? "-" : duration(plan.time_asked_s)}` : ""];
    cells.forEach((c, k) => tr.appendChild(el("td", c, k === 1 || k === 2 ? "text" : undefined)));
    body.appendChild(tr);
  });
  const key = JSON.stringify(all.map((d) => d.history || null));
  if (key === state.compared || typeof Plotly === "undefined") return;
  state.compared = key;
  const traces = all.filter((d) => !d.error).map((d) => ({
    x: d.history.map((p) => p.trial_id), y: d.history.map((p) => p.best), mode: "lines", type: "scatter",
    line: { shape: "hv" }, name: pt(d.save_path),
  }));
  Plotly.react("compare", traces, { ...LAYOUT, showlegend: true, title: { text: "best so far, each run" },
    xaxis: { title: { text: "trial" } } }, CONFIG);
}
