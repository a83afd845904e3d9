// Why 1/√d_k: a slider for d_k; /api/scale measures random queries and keys (qkv.core.scaling).
import { api } from "./api.js";
import { el, num } from "./dom.js";

let root, ctx, S, last = null, inflight = null;
const STEPS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

export function mount(section, context) {
  root = section; ctx = context; S = ctx.state;
  build(); measure();
}
export function relabel() { build(); if (last) draw(last); }

function dk() { const d = Number(S.dk || 64); return STEPS.includes(d) ? d : 64; }

function build() {
  const t = ctx.t, d = dk();
  const out = el("output", { class: "dk-value", text: String(d) });
  const slider = el("input", { type: "range", class: "dk", min: 0, max: STEPS.length - 1, step: 1, value: STEPS.indexOf(d),
    "aria-label": "d_k", oninput: e => { S.dk = String(STEPS[+e.target.value]); out.textContent = S.dk; ctx.save(); measure(); } });
  root.replaceChildren(el("p", { class: "intro", text: t("scale.intro") }),
    el("div", { class: "row" }, el("label", {}, t("scale.dk"), " = ", out, " ", slider)),
    el("div", { class: "result" }));
}

async function measure() {
  if (inflight) inflight.abort();
  const ctl = inflight = new AbortController();
  try {
    const r = await api("/api/scale", { query: { d_k: dk() }, signal: ctl.signal });
    if (ctl === inflight) { ctx.showError(""); draw(r); }
  } catch (e) { if (e.name !== "AbortError") ctx.showError(e.message); }
}


function draw(r) {
  last = r;
  const t = ctx.t;
  const rows = [["scale.std", "score_std"], ["scale.top", "top_weight"], ["scale.sat", "saturated"], ["scale.grad", "gradient"]];
  const cell = (v, max) => {
    const fill = el("span", { class: "fill" }); fill.style.width = `${Math.min(100, 100 * v / (max || 1))}%`;
    return el("td", {}, el("span", { class: "bar" }, fill), el("span", { class: "v", text: num(v) }));
  };
  const table = el("table", { class: "measure" },
    el("thead", {}, el("tr", {}, el("th"), el("th", { text: t("scale.col.without") }), el("th", { text: t("scale.col.with") }))),
    el("tbody", {}, ...rows.map(([key, f]) => {
      const max = Math.max(r.unscaled[f], r.scaled[f]);
      return el("tr", { dataset: { field: f } }, el("th", { text: t(key) }), cell(r.unscaled[f], max), cell(r.scaled[f], max));
    })));
  root.querySelector(".result").replaceChildren(table, el("p", { class: "note", text: t("scale.note", { root: num(Math.sqrt(r.d_k)) }) }));
}
