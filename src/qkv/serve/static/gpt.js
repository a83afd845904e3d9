// The tiny GPT: the next-character distribution (/api/next) with temperature and top-k, the
// probability of whole words, and the attention of every layer and head (/api/gpt/maps).
import { api } from "./api.js";
import { el, num } from "./dom.js";

let root, ctx, S, status = null, timer = null, view = "model", lastNext = null, lastMaps = null;
const inflight = { next: null, maps: null };  // the latest request of each kind wins

export function mount(section, context) {
  root = section; ctx = context; S = ctx.state;
  S.p = S.p ?? "我爱吃"; S.c = S.c ?? "苹果,砖头";
  build(); poll();
}
export function relabel() { build(); showStatus(); if (lastNext) drawNext(lastNext); if (lastMaps) drawMaps(lastMaps); }

function build() {
  const t = ctx.t;
  const temp = Number(S.t ?? 1), k = Number(S.k ?? 0);
  const tOut = el("output", { class: "t-value", text: temp.toFixed(2) }), kOut = el("output", { class: "k-value", text: k ? String(k) : t("gpt.all") });
  const prompt = el("input", { class: "prompt", value: S.p, maxlength: 256, "aria-label": t("gpt.prompt"), oninput: e => { S.p = e.target.value; changed(true); } });
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
