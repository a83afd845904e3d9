// The hand-calculation panel started from a real model's head (/api/head): the same steps,
// filled with the model's own numbers and checked against it. A click on a score or a weight
// writes that query's row out entry by entry; the model and head views open it on a cell.
// Every text reaches the page through textContent (dom.js), never as markup.
import { api } from "./api.js";
import { el } from "./dom.js";

const CLICKABLE = ["scores", "scaled", "masked", "weights"];
let root, ctx, S, leave, asked = 0;

// leave(name): back to a preset of the article (trace.js loads it)
export function mount(section, context, back) {
  root = section; ctx = context; S = ctx.state; leave = back;
  S.hm = S.hm === "gpt" ? "gpt" : "minilm";
  S.ht = S.ht ?? (S.hm === "gpt" ? "我爱吃苹果" : "The cat sat on the mat");
  build(); run();
}

export function relabel() { build(); run(); }  // the server writes the words: ask again

function number(cls, key, label, min = 1) {
  return el("label", {}, label, " ", el("input", { type: "number", class: cls, min, value: S[key] ?? "",
    onchange: e => { S[key] = e.target.value || undefined; run(); } }));
}

function build() {
  const t = ctx.t;
  const presets = el("select", { class: "preset", onchange: e => { if (e.target.value !== "model") leave(e.target.value); } },
    ...["笔记本", "search"].map(n => el("option", { value: n, text: n })),
    el("option", { value: "", text: t("preset.custom") }), el("option", { value: "model", text: t("preset.model") }));
  presets.value = "model";
  const model = el("select", { class: "hmodel", onchange: e => { S.hm = e.target.value; S.hq = S.hk = undefined; run(); } },
    el("option", { value: "minilm", text: "all-MiniLM-L6-v2" }), el("option", { value: "gpt", text: t("head.gpt") }));
  model.value = S.hm;
  const text = el("input", { class: "text htext", value: S.ht, "aria-label": t("model.text"),
    onchange: e => { S.ht = e.target.value; S.hq = S.hk = undefined; run(); } });
  root.replaceChildren(
    el("p", { class: "intro", text: t("head.intro") }),
    el("div", { class: "row" }, el("label", {}, t("preset"), " ", presets), model),
    el("div", { class: "row" }, el("label", {}, t("model.text"), " ", text)),
    el("div", { class: "row" }, number("hlayer", "hl", t("head.layer")), number("hhead", "hh", t("head.head")),
      number("hquery", "hq", t("head.query")),
      el("label", {}, t("head.columns"), " ", el("input", { class: "hcols", size: 10, value: S.hc ?? "1-16",
        onchange: e => { S.hc = e.target.value.trim() || undefined; run(); } }))),
    el("p", { class: "status" }), el("h2", { class: "htitle" }), el("p", { class: "sub" }), el("div", { class: "steps" }));
}

async function run() {
  ctx.save();
  const mine = ++asked, status = root.querySelector(".status");
  status.textContent = ctx.t("model.loading");
  const body = { model: S.hm, text: S.ht, layer: +S.hl || 1, head: +S.hh || 1, lang: S.lang, columns: S.hc || "1-16" };
  if (S.hq) body.query = +S.hq;
  try {
    const r = await api("/api/head", { method: "POST", body });
    if (mine !== asked) return;  // a newer request was made meanwhile
    ctx.showError(""); status.textContent = ""; draw(r);
  } catch (e) {
    if (mine !== asked) return;
    if (e.status === 503) { status.textContent = e.message; setTimeout(() => { if (mine === asked) run(); }, 1000); return; }
    status.textContent = ""; ctx.showError(e.message);
  }
}

function draw(r) {
  root.querySelector(".htitle").textContent = r.document.title;
  root.querySelector(".sub").textContent = r.document.subtitle;
  root.querySelector(".steps").replaceChildren(...r.document.sections.map(section));
  if (S.hk) mark(+S.hq - 1, +S.hk - 1);
  root.dataset.ready = String(Number(root.dataset.ready || 0) + 1);
  root.querySelector('[data-step="q.products"]')?.scrollIntoView({ block: "nearest" });
}

function section(sec) {
  const title = el("h3", {}, sec.title, sec.formula && !sec.title.includes(sec.formula) ? el("span", { class: "formula", text: sec.formula }) : null);
  const exp = sec.expansion ? el("p", { class: "arith" }, sec.expansion[0], " ", el("code", { text: sec.expansion[1] })) : null;
  return el("section", { class: "step", dataset: { step: sec.id } }, title, el("p", { class: "text", text: sec.text }),
    sec.table ? table(sec) : null, exp, ...sec.notes.map(n => el("p", { class: "note", text: n })));
}

function table(sec) {
  const click = CLICKABLE.includes(sec.id), weights = sec.id === "weights";
  const head = el("tr", {}, el("th", { text: sec.table.corner }), ...sec.table.cols.map(c => el("th", { text: c })));
  const rows = sec.table.rows.map(([label, cells], i) => el("tr", {}, el("th", { text: label }),
    ...cells.map((text, j) => {
      const td = el("td", { text, dataset: { i, j } });
      if (weights) paint(td, Number(text));
      if (text === "-∞") td.classList.add("masked");
      if (click) td.addEventListener("click", () => { S.hq = String(i + 1); S.hk = String(j + 1); run(); });
      return td;
    })));
  return el("div", { class: "tablebox" }, el("table", { class: `values${click ? "" : " still"}` }, el("thead", {}, head), el("tbody", {}, ...rows)));
}

function paint(td, v) {
  if (!Number.isFinite(v)) return;
  td.style.background = `rgba(33,102,172,${(0.08 + 0.8 * v).toFixed(3)})`;
  if (v > 0.6) td.classList.add("dark");
}

// the chosen cell, and its key in the query's softmax
function mark(i, j) {
  for (const id of CLICKABLE) root.querySelector(`[data-step="${id}"] td[data-i="${i}"][data-j="${j}"]`)?.classList.add("picked");
  root.querySelector(`[data-step="q.softmax"] tbody tr:nth-child(${j + 1})`)?.classList.add("picked");
}
