// The hand calculation, live: editors for X (or Q, K, V) and the options; every step drawn
// from /api/layout (qkv.core computes, qkv.render lays out the digits); a click on a cell asks
// /api/expand for its arithmetic and lights up the row and column it came from.
import { api } from "./api.js";
import { download, el } from "./dom.js";
import * as head from "./head.js";

const MAX = 64;
let root, ctx, S, m, last = null, inflight = null, editT0 = null;
let bad = null;  // the input the last answer refused: {inputs, row, col} (from 1), or {} for others
const NAMES = { x: "X", q: "Q", k: "K", v: "V", wq: "W_Q", wk: "W_K", wv: "W_V" };

export async function mount(section, context) {
  root = section; ctx = context; S = ctx.state;
  if (S.hm) { head.mount(root, ctx, leaveHead); return; }  // a model's head (head.js)
  S.ex = S.ex ?? "笔记本";
  m = fromState();
  if (m) { build(); await recompute(); } else await loadPreset(S.ex);
}

export function relabel() {
  if (S.hm) { head.relabel(); return; }
  // a preset nobody edited takes the new language's tokens; edited numbers stay as typed
  if (S.ex && !S.x && !S.q) loadPreset(S.ex); else { build(); recompute(); }
}

// the model and head views: a cell's hand calculation (the state already names it)
export function openHead() { head.mount(root, ctx, leaveHead); }

function leaveHead(name) {
  for (const k of ["hm", "ht", "hl", "hh", "hq", "hk", "hc"]) S[k] = undefined;
  S.ex = name; last = null;
  if (name) loadPreset(name); else { m = m || { x: eye(2, 2), tok: ["t1", "t2"] }; S.mode = "self"; build(); toState(); recompute(); }
}

function parse(key) { try { return S[key] ? JSON.parse(S[key]) : undefined; } catch (e) { return undefined; } }

function fromState() {
  if (!S.x && !S.q) return null;
  const got = {};
  for (const k of ["x", "wq", "wk", "wv", "q", "k", "v", "tok", "ktok", "grid"]) got[k] = parse(k);
  return got;
}

function toState(edited = true) {
  for (const k of ["x", "wq", "wk", "wv", "q", "k", "v", "tok", "ktok", "grid"]) {
    const keep = edited && m[k] !== undefined && (k !== "grid" || S.mask === "grid");
    const used = S.mode === "cross" ? !["x", "wq", "wk", "wv"].includes(k) : !["q", "k", "v", "ktok"].includes(k);
    S[k] = keep && used && !(k.startsWith("w") && !S.proj) ? JSON.stringify(m[k]) : undefined;
  }
  ctx.save();
}

async function loadPreset(name) {
  try {
    const data = await api("/api/layout", { query: { example: name, lang: S.lang } });
    const steps = Object.fromEntries(data.trace.steps.map(s => [s.id, s]));
    const inp = data.inputs;
    S.mode = inp.x ? "self" : "cross"; S.proj = undefined; S.scale = undefined;
    m = inp.x ? { x: inp.x, tok: steps.x.rows } : { q: inp.q, k: inp.k, v: inp.v, tok: steps.q.rows, ktok: steps.k.rows };
    bad = null; toState(false); build(); draw(data);
  } catch (e) { ctx.showError(e.message); }
}

// ---- the request ----
function query(extra = {}) {
  // "rules": the words of `qkv explain --mask` (causal+window:1,0, documents:0,0,1, length:N)
  const mask = S.mask === "grid" ? "none" : S.mask === "rules" ? (S.mw || "none") : S.mask;
  return { example: S.ex || undefined, lang: S.lang, scale: S.scale, mask, window: S.mask === "window" ? S.win || 1 : undefined,
    lengths: S.mask !== "grid" && S.len ? S.len : undefined, ...extra };
}

function body() {
  const b = S.mode === "cross" ? { q: m.q, k: m.k, v: m.v, tokens: m.tok, key_tokens: m.ktok } : { x: m.x, tokens: m.tok };
  if (S.mode !== "cross" && S.proj) Object.assign(b, { wq: m.wq, wk: m.wk, wv: m.wv });
  if (S.mask === "grid") b.mask = m.grid;
  return b;
}

async function recompute() {
  if (inflight) inflight.abort();
  const ctl = inflight = new AbortController();
  try {
    const data = await api("/api/layout", { method: "POST", body: body(), query: query(), signal: ctl.signal });
    if (ctl !== inflight) return;
    bad = null; ctx.showError(""); draw(data); markBad();
  } catch (e) {
    if (e.name === "AbortError" || ctl !== inflight) return;
    bad = e.where && e.status === 422 ? e.where : {};
    markBad();
    ctx.showError(badMessage() || e.message);
  }
}

// the cell (or matrices) a refused input names: marked, with a short reason in the page's
// language; the steps below stay greyed as stale until an input is accepted
function badMessage() {
  const t = ctx.t, w = bad;
  if (!w || !w.inputs) return "";
  const name = NAMES[w.inputs[0]] || w.inputs[0];
  if (w.row !== undefined && w.col !== undefined) {
    const value = m[w.inputs[0]]?.[w.row - 1]?.[w.col - 1];
    return t("bad.where", { name, row: w.row, col: w.col }) + t(value === "" ? "bad.empty" : "bad.number");
  }
  if (w.row !== undefined) return "";  // a ragged row: the server's words
  return t("bad.matrix", { names: w.inputs.map(n => NAMES[n] || n).join(t("bad.and")) });
}

function markBad() {
  const t = ctx.t;
  for (const e of root.querySelectorAll(".bad")) e.classList.remove("bad");
  for (const e of root.querySelectorAll("[aria-invalid]")) { e.removeAttribute("aria-invalid"); e.removeAttribute("title"); }
  const steps = root.querySelector(".steps"), note = root.querySelector(".stale-note");
  if (steps) steps.classList.toggle("stale", !!bad);
  if (note) { note.hidden = !bad; note.textContent = bad ? t(bad.inputs ? "stale" : "stale.other") : ""; }
  if (!bad || !bad.inputs) return;
  const message = badMessage();
  for (const name of bad.inputs) {
    const table = root.querySelector(`table.editor-${name}`);
    if (!table) continue;
    const cells = bad.row === undefined ? [...table.querySelectorAll("input.num")]
      : [...table.querySelectorAll(`input.num[data-i="${bad.row - 1}"]`)].filter(e => bad.col === undefined || e.dataset.j === String(bad.col - 1));
    if (bad.row === undefined) table.classList.add("bad");
    for (const e of cells) { e.classList.add("bad"); e.setAttribute("aria-invalid", "true"); e.title = message; }
  }
}

function edited() { editT0 = performance.now(); toState(); recompute(); }

// ---- matrices ----
const rows = a => a.length, cols = a => a[0].length;
function zeros(r, c) { return Array.from({ length: r }, () => Array(c).fill("0")); }
function eye(r, c) { return Array.from({ length: r }, (_, i) => Array.from({ length: c }, (_, j) => (i === j ? "1" : "0"))); }
function addRow(a) { a.push(Array(cols(a)).fill("0")); }
function addCol(a) { a.forEach(r => r.push("0")); }
function delRow(a) { if (rows(a) > 1) a.pop(); }
function delCol(a) { if (cols(a) > 1) a.forEach(r => r.pop()); }

const ACTIONS = {
  self: [
    ["add.token", () => { if (rows(m.x) < MAX) { addRow(m.x); m.tok.push(`t${m.tok.length + 1}`); } }],
    ["del.token", () => { if (rows(m.x) > 1) { delRow(m.x); m.tok.pop(); } }],
    ["add.dim", () => { if (cols(m.x) < MAX) { addCol(m.x); if (S.proj) [m.wq, m.wk, m.wv].forEach(addRow); } }],
    ["del.dim", () => { if (cols(m.x) > 1) { delCol(m.x); if (S.proj) [m.wq, m.wk, m.wv].forEach(delRow); } }],
  ],
  proj: [
    ["add.dk", () => { if (cols(m.wq) < MAX) [m.wq, m.wk].forEach(addCol); }],
    ["del.dk", () => [m.wq, m.wk].forEach(delCol)],
    ["add.dv", () => { if (cols(m.wv) < MAX) addCol(m.wv); }],
    ["del.dv", () => delCol(m.wv)],
  ],
  cross: [
    ["add.token", () => { if (rows(m.q) < MAX) { addRow(m.q); m.tok.push(`q${m.tok.length + 1}`); } }],
    ["del.token", () => { if (rows(m.q) > 1) { delRow(m.q); m.tok.pop(); } }],
    ["add.key", () => { if (rows(m.k) < MAX) { addRow(m.k); addRow(m.v); m.ktok.push(`k${m.ktok.length + 1}`); } }],
    ["del.key", () => { if (rows(m.k) > 1) { delRow(m.k); delRow(m.v); m.ktok.pop(); } }],
    ["add.dim", () => { if (cols(m.q) < MAX) [m.q, m.k].forEach(addCol); }],
    ["del.dim", () => [m.q, m.k].forEach(delCol)],
    ["add.dv", () => { if (cols(m.v) < MAX) addCol(m.v); }],
    ["del.dv", () => delCol(m.v)],
  ],
};

// ---- the controls ----
function build() {
  const t = ctx.t;
  if (S.mode === "cross" && !m.q) m = { q: [["1", "0"]], k: eye(2, 2), v: [["1"], ["2"]], tok: ["q1"], ktok: ["k1", "k2"] };
  if (S.mode !== "cross" && !m.x) m = { x: eye(2, 2), tok: ["t1", "t2"] };
  if (S.proj && S.mode !== "cross" && !m.wq) { const d = cols(m.x); m.wq = eye(d, d); m.wk = eye(d, d); m.wv = eye(d, d); }
  const presets = el("select", { class: "preset", onchange: e => {
    if (e.target.value === "model") { S.hm = "minilm"; head.mount(root, ctx, leaveHead); return; }
    S.ex = e.target.value; if (S.ex) loadPreset(S.ex); else { toState(); recompute(); } } },
    ...["笔记本", "search"].map(n => el("option", { value: n, text: n })), el("option", { value: "", text: t("preset.custom") }),
    el("option", { value: "model", text: t("preset.model") }));
  presets.value = S.ex || "";
  const mode = el("select", { class: "mode", onchange: e => { S.mode = e.target.value; S.ex = ""; S.grid = undefined; m.grid = undefined; build(); edited(); } },
    el("option", { value: "self", text: t("mode.self") }), el("option", { value: "cross", text: t("mode.cross") }));
  mode.value = S.mode === "cross" ? "cross" : "self";
  const proj = el("label", {}, el("input", { type: "checkbox", class: "proj", checked: !!S.proj, disabled: S.mode === "cross",
    onchange: e => { S.proj = e.target.checked ? "1" : undefined; build(); edited(); } }), " ", t("proj"));
  const buttons = [...ACTIONS[S.mode === "cross" ? "cross" : "self"], ...(S.proj && S.mode !== "cross" ? ACTIONS.proj : [])]
    .map(([key, act]) => el("button", { type: "button", class: `act ${key.replace(".", "-")}`, text: t(key), onclick: () => { act(); fixGrid(); build(); edited(); } }));
  const editors = el("div", { class: "editors" },
    ...(S.mode === "cross"
      ? [editor("Q", "q", "tok"), editor("K", "k", "ktok"), editor("V", "v", "ktok", false)]
      : [editor("X", "x", "tok"), ...(S.proj ? [editor("W_Q", "wq"), editor("W_K", "wk"), editor("W_V", "wv")] : [])]));
  root.replaceChildren(
    el("p", { class: "intro", text: t("trace.intro") }),
    el("div", { class: "row" }, el("label", {}, t("preset"), " ", presets), mode, proj),
    el("div", { class: "row" }, ...buttons),
    editors,
    el("div", { class: "row" }, scaleControl(), maskControl()),
    maskGrid(),
    el("div", { class: "row downloads" }, t("download"), ": ",
      ...[["json", "JSON"], ["markdown", "Markdown"], ["png", "PNG"]].map(([f, label]) =>
        el("button", { type: "button", class: `dl-${f}`, text: label, onclick: () => save(f) }))),
    el("p", { class: "stale-note", role: "status", hidden: true }),
    el("p", { class: "sub" }),
    el("div", { class: "steps" }),
  );
  if (last) draw(last, false);
  markBad();
}

function editor(name, key, labels, labelled = true) {
  const a = m[key];
  const head = el("tr", {}, el("th", { text: name }), ...a[0].map((_, j) => el("th", { text: String(j + 1) })));
  const body = a.map((r, i) => el("tr", {},
    labels && labelled
      ? el("th", {}, el("input", { class: "tok", value: m[labels][i], "aria-label": `${name} token ${i + 1}`,
          oninput: e => { m[labels][i] = e.target.value; edited(); } }))
      : el("th", { text: labels ? m[labels][i] : String(i + 1) }),
    ...r.map((v, j) => el("td", {}, el("input", { class: "num", value: v, inputmode: "decimal", dataset: { m: key, i, j },
      "aria-label": `${name} ${i + 1},${j + 1}`, oninput: e => { a[i][j] = e.target.value.trim(); edited(); } })))));
  return el("table", { class: `editor editor-${key}` }, el("thead", {}, head), el("tbody", {}, ...body));
}

function scaleControl() {
  const t = ctx.t, choice = S.scale === undefined ? (S.ex ? "preset" : "sqrt") : ["none", "sqrt"].includes(S.scale) ? S.scale : "number";
  const number = el("input", { class: "scale-number", size: 6, value: choice === "number" ? S.scale : "0.5",
    oninput: e => { if (choice === "number") { S.scale = e.target.value.trim(); edited(); } } });
  const radio = (v, label) => el("label", {}, el("input", { type: "radio", name: "scale", value: v, checked: choice === v,
    onchange: () => { S.scale = v === "preset" ? undefined : v === "number" ? number.value.trim() : v; build(); edited(); } }), " ", label);
  return el("fieldset", { class: "scale" }, el("legend", { text: t("scale") }),
    ...(S.ex ? [radio("preset", t("scale.preset"))] : []), radio("none", t("scale.none")), radio("sqrt", t("scale.sqrt")),
    radio("number", t("scale.number")), number);
}

function maskControl() {
  const t = ctx.t, kind = S.mask || "none";
  const sel = el("select", { class: "mask", onchange: e => { S.mask = e.target.value; fixGrid(); build(); edited(); } },
    ...["none", "causal", "window", "rules", "grid"].map(v => el("option", { value: v, text: t(`mask.${v}`) })));
  sel.value = kind;
  const win = el("label", { hidden: kind !== "window" }, t("window"), " ",
    el("input", { type: "number", class: "window", min: 0, max: MAX, value: S.win || 1, oninput: e => { S.win = e.target.value; edited(); } }));
  // every rule the CLI has: its --mask words, and --lengths (query i sees its first n_i keys)
  const rules = el("label", { hidden: kind !== "rules" }, t("mask.words"), " ",
    el("input", { class: "mask-words", value: S.mw || "", placeholder: "causal+window:1,0", spellcheck: false,
      oninput: e => { S.mw = e.target.value.trim(); edited(); } }));
  const lengths = el("label", { hidden: kind === "grid" }, t("lengths"), " ",
    el("input", { class: "lengths", value: S.len || "", placeholder: "2,3,3", size: 8, spellcheck: false,
      oninput: e => { S.len = e.target.value.trim(); edited(); } }));
  return el("fieldset", { class: "maskbox" }, el("legend", { text: t("mask") }), sel, win, rules, lengths);
}

function shape() { return S.mode === "cross" ? [rows(m.q), rows(m.k)] : [rows(m.x), rows(m.x)]; }
function fixGrid() {
  const [n, k] = shape();
  if (S.mask === "grid" && (!m.grid || rows(m.grid) !== n || cols(m.grid) !== k))
    m.grid = Array.from({ length: n }, (_, i) => Array.from({ length: k }, (_, j) => (j <= i + k - n ? 1 : 0)));
}

function maskGrid() {
  if (S.mask !== "grid") return el("div", { class: "maskgrid", hidden: true });
  fixGrid();
  const kt = S.mode === "cross" ? m.ktok : m.tok;
  return el("div", { class: "maskgrid" }, el("p", { class: "hint", text: ctx.t("mask.hint") }),
    el("table", {}, el("thead", {}, el("tr", {}, el("th"), ...kt.map(k => el("th", { text: k })))),
      el("tbody", {}, ...m.grid.map((r, i) => el("tr", {}, el("th", { text: m.tok[i] }),
        ...r.map((v, j) => el("td", {}, el("button", { type: "button", class: v ? "on" : "off", text: String(v), dataset: { i, j },
          onclick: e => { m.grid[i][j] = 1 - m.grid[i][j]; e.target.textContent = String(m.grid[i][j]); e.target.className = m.grid[i][j] ? "on" : "off"; edited(); } }))))))));
}

async function save(format) {
  try {
    const blob = await api("/api/trace", { method: "POST", body: body(), query: query({ format }), raw: true });
    download(blob, `trace.${{ json: "json", markdown: "md", png: "png" }[format]}`);
  } catch (e) { ctx.showError(e.message); }
}

// ---- the steps ----
function draw(data, fresh = true) {
  last = data;
  const steps = Object.fromEntries(data.trace.steps.map(s => [s.id, s]));
  root.querySelector(".sub").textContent = data.document.subtitle;
  root.querySelector(".steps").replaceChildren(...data.document.sections.map(sec => section(sec, steps[sec.id], data.trace)));
  if (!fresh) return;  // the same answer under rebuilt controls: no new computation
  const now = performance.now();
  if (window.qkvTimings.firstPaint === undefined) window.qkvTimings.firstPaint = now;
  if (editT0 !== null) { window.qkvTimings.recompute.push(now - editT0); editT0 = null; }
  root.dataset.ready = String(Number(root.dataset.ready || 0) + 1);
}

function section(sec, step, trace) {
  const arith = el("p", { class: "arith", text: sec.table && step ? ctx.t("arith.hint") : "" });
  const title = el("h3", {}, sec.title, sec.formula && !sec.title.includes(sec.formula) ? el("span", { class: "formula", text: sec.formula }) : null);
  return el("section", { class: "step", id: `step-${sec.id}`, dataset: { step: sec.id } }, title,
    el("p", { class: "text", text: sec.text }),
    sec.table ? table(sec, step, trace, arith) : null, arith,
    ...sec.notes.map(n => el("p", { class: "note", text: n })));
}

function table(sec, step, trace, arith) {
  const range = step ? extent(step) : null;
  const head = el("tr", {}, el("th", { text: sec.table.corner }), ...sec.table.cols.map(c => el("th", { text: c })));
  const body = sec.table.rows.map(([label, cells], i) => el("tr", {}, el("th", { text: label }),
    ...cells.map((text, j) => {
      const td = el("td", { text, dataset: step ? { i, j } : {} });
      if (step) {
        const v = step.matrix[i][j];
        paint(td, v, range, step.id === "weights" || step.id === "weighted");
        td.addEventListener("click", () => explain(step, i, j, trace, arith, td));
      }
      return td;
    })));
  return el("div", { class: "tablebox" }, el("table", { class: "values" }, el("thead", {}, head), el("tbody", {}, ...body)));
}

function extent(step) {
  let hi = 0;
  for (const r of step.matrix) for (const v of r) if (v !== null) hi = Math.max(hi, Math.abs(v));
  return hi || 1;
}

function paint(td, v, hi, weights) {
  if (v === null) { td.classList.add("masked"); return; }
  const t = weights ? v : Math.abs(v) / hi;
  const [r, g, b] = v < 0 && !weights ? [214, 96, 77] : [33, 102, 172];
  td.style.background = `rgba(${r},${g},${b},${(0.08 + 0.8 * t).toFixed(3)})`;
  if (t > 0.6) td.classList.add("dark");
}

async function explain(step, i, j, trace, arith, td) {
  try {
    const r = await api("/api/expand", { method: "POST", body: body(), query: query({ step: step.id, row: i + 1, col: j + 1 }) });
    arith.textContent = r.plain ? `${r.title} ${r.plain}` : `${r.title} ${td.textContent}`;
    highlight(sources(trace, step.id, i, j), step.id, i, j);
  } catch (e) { ctx.showError(e.message); }
}

// where entry (i, j) of a step comes from: rows, columns or cells of earlier steps
function sources(trace, id, i, j) {
  const byId = Object.fromEntries(trace.steps.map(s => [s.id, s]));
  const real = s => (byId[s] && byId[s].same_as) || s;
  const order = trace.steps.map(s => s.id), before = ids => ids.filter(x => order.includes(x) && order.indexOf(x) < order.indexOf(id)).pop();
  const step = byId[id];
  if (id === "weighted") return [{ step: "weights", cell: [0, i] }, { step: real("v"), cell: [i, j] }];
  if (id === "scores") return [{ step: real("q"), row: i }, { step: real("k"), row: j }];
  if (step.operands) return [{ step: real(step.operands[0]), row: i }, { step: real(step.operands[1]), col: j }];
  if (id === "scaled") return [{ step: "scores", cell: [i, j] }];
  if (id === "masked") return [{ step: before(["scores", "scaled"]), cell: [i, j] }];
  if (id === "weights") return [{ step: before(["scores", "scaled", "masked"]), row: i }];
  return [];
}

function highlight(srcs, id, i, j) {
  root.querySelectorAll(".values td.hl, .values td.picked").forEach(td => td.classList.remove("hl", "picked"));
  root.querySelector(`#step-${id} td[data-i="${i}"][data-j="${j}"]`)?.classList.add("picked");
  for (const s of srcs) {
    if (!s.step) continue;
    for (const td of root.querySelectorAll(`#step-${s.step} .values td`)) {
      const a = +td.dataset.i, b = +td.dataset.j;
      if ((s.row !== undefined && a === s.row) || (s.col !== undefined && b === s.col) || (s.cell && a === s.cell[0] && b === s.cell[1])) td.classList.add("hl");
    }
  }
}
