// The tiny GPT: the next-character distribution (/api/next) with temperature and top-k, the
// probability of whole words, the attention of every layer and head (/api/gpt/maps), and
// generation token by token: each step picks the next character from /api/next's distribution
// (greedy at temperature 0), appends it, and shows that token's row of attention in every head.
import { api } from "./api.js";
import { el, num } from "./dom.js";

let root, ctx, S, status = null, timer = null, view = "model", lastNext = null, lastMaps = null;
const inflight = { next: null, maps: null };  // the latest request of each kind wins
const MAX_STEPS = 64;  // one run of the generator; the model's context bounds it too
let gen = null, genWhy = "", steps = [], shownStep = null;  // the running generation; its log

export function mount(section, context) {
  root = section; ctx = context; S = ctx.state;
  S.p = S.p ?? "我爱吃"; S.c = S.c ?? "苹果,砖头";
  build(); poll();
}
export function relabel() { build(); showStatus(); drawGen(); if (lastNext) drawNext(lastNext); if (lastMaps) drawMaps(lastMaps); }

function build() {
  const t = ctx.t;
  const temp = Number(S.t ?? 1), k = Number(S.k ?? 0);
  const tOut = el("output", { class: "t-value", text: temp.toFixed(2) }), kOut = el("output", { class: "k-value", text: k ? String(k) : t("gpt.all") });
  const prompt = el("input", { class: "prompt", value: S.p, maxlength: 256, "aria-label": t("gpt.prompt"), oninput: e => { S.p = e.target.value; stop(); steps = []; shownStep = null; drawGen(); changed(true); } });
  const tSlider = el("input", { type: "range", class: "temperature", min: 0, max: 2, step: 0.05, value: temp, "aria-label": t("gpt.temperature"),
    oninput: e => { S.t = e.target.value; tOut.textContent = Number(S.t).toFixed(2); changed(false); } });
  const kSlider = el("input", { type: "range", class: "topk", min: 0, max: 50, step: 1, value: k, "aria-label": t("gpt.topk"),
    oninput: e => { S.k = e.target.value; kOut.textContent = +S.k ? S.k : t("gpt.all"); changed(false); } });
  const cands = el("input", { class: "candidates", value: S.c, "aria-label": t("gpt.candidates"), oninput: e => { S.c = e.target.value; changed(false); } });
  const views = el("select", { class: "view", onchange: e => { view = e.target.value; if (lastMaps) drawMaps(lastMaps); } },
    el("option", { value: "model", text: t("view.model") }), el("option", { value: "head", text: t("view.head") }));
  views.value = view;
  root.replaceChildren(el("p", { class: "intro", text: t("gpt.intro") }), el("p", { class: "status" }),
    el("div", { class: "row" }, el("label", {}, t("gpt.prompt"), " ", prompt)),
    el("div", { class: "row" }, el("label", {}, t("gpt.temperature"), " ", tSlider, " ", tOut), el("span", { class: "hint", text: t("gpt.greedy") }),
      el("label", {}, t("gpt.topk"), " ", kSlider, " ", kOut)),
    el("div", { class: "bars" }),
    genControls(),
    el("div", { class: "row" }, el("label", {}, t("gpt.candidates"), " ", cands)), el("div", { class: "words" }),
    el("h3", { text: t("gpt.maps") }), el("div", { class: "row" }, views), el("div", { class: "maps" }));
}

// The first look starts the model (a POST: loading, or training when there is no checkpoint);
// later looks only ask how far it is (a GET changes nothing on the server).
let started = false;
async function poll() {
  clearTimeout(timer);
  try {
    status = started ? await api("/api/gpt/status") : await api("/api/gpt/start", { method: "POST", body: {} });
    started = true;
  } catch (e) { ctx.showError(e.message); return; }
  showStatus();
  if (status.state === "ready") changed(true);
  else if (status.state !== "failed") timer = setTimeout(poll, 1000);
}

function showStatus() {
  if (!status) return;
  const t = ctx.t, p = root.querySelector(".status");
  const text = status.state === "ready" ? t("gpt.ready", status.model)
    : status.state === "training" ? t("gpt.training", { step: status.step, steps: status.steps, loss: status.loss === null ? "…" : num(status.loss) })
    : status.state === "failed" ? t("gpt.failed", { error: status.error }) : t("gpt.loading");
  p.textContent = text; p.dataset.state = status.state;
  if (status.state === "training") { const bar = el("progress", { max: status.steps, value: status.step }); p.append(" ", bar); }
}

function changed(withMaps) {
  ctx.save();
  if (!status || status.state !== "ready") return;
  latest("next", "/api/next", { prompt: S.p, top: 10, temperature: S.t ?? 1, top_k: S.k ?? 0, candidates: S.c }, drawNext);
  if (withMaps) latest("maps", "/api/gpt/maps", { prompt: S.p }, drawMaps);
}

async function latest(kind, path, query, draw) {
  inflight[kind]?.abort();
  const ctl = inflight[kind] = new AbortController();
  try {
    const r = await api(path, { query, signal: ctl.signal });
    if (ctl === inflight[kind]) { ctx.showError(""); draw(r); }
  } catch (e) { if (e.name !== "AbortError") ctx.showError(e.message); }
}

function drawNext(r) {
  lastNext = r;
  const t = ctx.t, top = Math.max(...r.next.map(n => n.probability), 1e-9);
  root.querySelector(".bars").replaceChildren(el("table", { class: "probs" },
    el("thead", {}, el("tr", {}, el("th", { text: t("gpt.next") }), el("th", { text: t("gpt.prob") }))),
    el("tbody", {}, ...r.next.map(n => {
      const fill = el("span", { class: "fill" }); fill.style.width = `${(100 * n.probability / top).toFixed(1)}%`;
      return el("tr", {}, el("th", { class: "char", text: n.char === " " ? "␠" : n.char === "\n" ? "↵" : n.char }),
        el("td", {}, el("span", { class: "bar" }, fill), el("span", { class: "v", text: num(n.probability) })));
    }))));
  root.querySelector(".words").replaceChildren(...(r.candidates.length ? [el("p", { class: "hint", text: t("gpt.words") }),
    el("ul", {}, ...r.candidates.map(c => el("li", { text: `${c.word}: ${num(c.probability)}` })))] : []));
}

function drawMaps(r) {
  lastMaps = r;
  const box = root.querySelector(".maps"), prompt = r.meta?.prompt ?? S.p;
  // a cell opens its hand calculation, with the tiny GPT's own numbers
  const onCell = (l, h, i, j) => ctx.openHead({ hm: "gpt", ht: prompt, hl: l + 1, hh: h + 1, hq: i + 1, hk: j + 1 });
  window.qkvMapsView(box, r.view, { view, lang: S.lang, onCell });
}

// ---- generation, token by token ----
function genControls() {
  const t = ctx.t;
  const n = el("input", { type: "number", class: "gen-n", min: 1, max: MAX_STEPS, value: S.gn ?? 8, "aria-label": t("gen.steps"),
    oninput: e => { S.gn = e.target.value; ctx.save(); } });
  const count = () => Math.max(1, Math.min(MAX_STEPS, Math.floor(Number(n.value)) || 1));
  return el("div", { class: "generate", dataset: { steps: String(steps.length), state: gen ? "running" : "idle" } },
    el("h3", { text: t("gen.title") }), el("p", { class: "hint", text: t("gen.hint", { max: MAX_STEPS }) }),
    el("div", { class: "row" },
      el("button", { type: "button", class: "gen-step", text: t("gen.step"), onclick: () => generate(1) }),
      el("label", {}, t("gen.n"), " ", n),
      el("button", { type: "button", class: "gen-run", text: t("gen.run"), onclick: () => generate(count()) }),
      el("button", { type: "button", class: "gen-stop", text: t("gen.stop"), disabled: !gen, onclick: stop }),
      el("span", { class: "gen-state", role: "status" })),
    el("ol", { class: "gen-log" }), el("p", { class: "gen-caption" }), el("div", { class: "gen-attn tablebox" }));
}

function stop() { if (gen) { gen.abort(); gen = null; genWhy = "gen.stopped"; drawGen(); } }

async function generate(k) {
  if (gen || !status || status.state !== "ready") return;
  const ctl = gen = new AbortController();
  genWhy = ""; drawGen();
  const limit = Math.min(status.model.context, 256);
  try {
    for (let n = 0; n < k; n++) {
      if ([...S.p].length >= limit) { genWhy = "gen.full"; break; }
      const temperature = Number(S.t ?? 1);
      const r = await api("/api/next", { query: { prompt: S.p, top: 100, temperature, top_k: S.k ?? 0 }, signal: ctl.signal });
      const pick = choose(r.next, temperature), prompt = S.p + pick.char;
      const maps = await api("/api/gpt/maps", { query: { prompt }, signal: ctl.signal });
      if (ctl !== gen) return;
      S.p = prompt; root.querySelector("input.prompt").value = prompt; ctx.save();
      steps.push({ char: pick.char, p: pick.probability, greedy: temperature === 0, keys: maps.view.key_labels, rows: lastRow(maps.view) });
      shownStep = steps.length - 1;
      drawMaps(maps); changed(false); drawGen();
    }
    if (ctl === gen) { gen = null; genWhy = genWhy || "gen.done"; drawGen(); }
  } catch (e) {
    if (ctl !== gen) return;  // stopped
    gen = null; genWhy = ""; drawGen();
    if (e.name !== "AbortError") ctx.showError(e.message);
  }
}

// greedy at temperature 0; otherwise a draw from the distribution /api/next gives (its 100
// likeliest characters: the whole vocabulary of the tiny GPT)
function choose(next, temperature) {
  if (temperature === 0) return next[0];
  const total = next.reduce((a, n) => a + n.probability, 0);
  let r = Math.random() * total;
  for (const n of next) { r -= n.probability; if (r <= 0) return n; }
  return next[next.length - 1];
}

// the last token's row of attention in every layer and head, from the maps' compact view
// (qkv.viz.page.encode: per layer, head and row, its kept keys and weights in thousandths)
function bytes(b64, size) {
  const bin = atob(b64), u = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) u[i] = bin.charCodeAt(i);
  return size === 1 ? u : size === 2 ? new Uint16Array(u.buffer) : new Uint32Array(u.buffer);
}

function lastRow(v) {
  const counts = bytes(v.counts, 1), idx = bytes(v.idx, v.idx_bytes), w = bytes(v.w, 2), rows = [];
  let at = 0;
  for (let l = 0; l < v.layers; l++) for (let h = 0; h < v.heads; h++) for (let i = 0; i < v.n; i++) {
    const c = counts[(l * v.heads + h) * v.n + i];
    if (i === v.n - 1) {
      const weights = Array(v.s).fill(0);
      for (let q = 0; q < c; q++) weights[idx[at + q]] = w[at + q] / 1000;
      rows.push({ layer: l + 1, head: h + 1, weights });
    }
    at += c;
  }
  return rows;
}

const visible = c => (c === " " ? "␣" : c === "\n" ? "⏎" : c);

function drawGen() {
  const box = root.querySelector(".generate");
  if (!box) return;
  const t = ctx.t;
  box.dataset.steps = String(steps.length); box.dataset.state = gen ? "running" : "idle";
  box.querySelector(".gen-stop").disabled = !gen;
  for (const b of box.querySelectorAll(".gen-step, .gen-run")) b.disabled = !!gen;
  box.querySelector(".gen-state").textContent = gen ? t("gen.running")
    : genWhy ? t(genWhy, { context: status?.model?.context ?? "", max: MAX_STEPS }) : "";
  box.querySelector(".gen-log").replaceChildren(...steps.map((s, n) => el("li", { class: n === shownStep ? "on" : "" },
    el("span", { class: "n", text: `${n + 1}.` }), el("button", { type: "button", class: "gen-token", text: visible(s.char), title: t("gen.show"),
      onclick: () => { shownStep = n; drawGen(); } }),
    el("span", { class: "v", text: ` ${s.greedy ? t("gen.greedy") : t("gen.sampled")} p = ${num(s.p)}` }))));
  const s = steps[shownStep];
  box.querySelector(".gen-caption").textContent = s ? t("gen.attn", { token: visible(s.char), step: shownStep + 1 }) : "";
  box.querySelector(".gen-attn").replaceChildren(...(s ? [el("table", { class: "values still gen-row" },
    el("thead", {}, el("tr", {}, el("th", { text: t("gen.head") }), ...s.keys.map(k => el("th", { text: k })))),
    el("tbody", {}, ...s.rows.map(r => el("tr", {}, el("th", { text: `${t("head.layer")} ${r.layer} · ${t("head.head")} ${r.head}` }),
      ...r.weights.map(w => {
        const td = el("td", { text: w ? num(w, 2) : "·" });
        td.style.background = `rgba(33,102,172,${(0.05 + 0.8 * w).toFixed(3)})`;
        if (w > 0.6) td.classList.add("dark");
        return td;
      })))))] : []));
}
