// A real model (all-MiniLM-L6-v2, offline): its attention maps for a sentence (/api/maps),
// drawn by the same model and head views as `qkv viz` pages.
import { api } from "./api.js";
import { el } from "./dom.js";

let root, ctx, S, view = "model", last = null, asked = 0;

export function mount(section, context) {
  root = section; ctx = context; S = ctx.state;
  S.text = S.text ?? "The cat sat on the mat because it was tired.";
  build(); run();
}
export function relabel() { build(); if (last) draw(last); }

function build() {
  const t = ctx.t;
  const text = el("input", { class: "text", value: S.text, "aria-label": t("model.text"), oninput: e => { S.text = e.target.value; ctx.save(); } });
  const views = el("select", { class: "view", onchange: e => { view = e.target.value; if (last) draw(last); } },
    el("option", { value: "model", text: t("view.model") }), el("option", { value: "head", text: t("view.head") }));
  views.value = view;
  root.replaceChildren(el("p", { class: "intro", text: t("model.intro") }),
    el("div", { class: "row" }, el("label", {}, t("model.text"), " ", text),
      el("button", { type: "button", class: "show", text: t("model.show"), onclick: run }), views),
    el("p", { class: "status" }), el("div", { class: "maps" }));
}

async function run() {
  const status = root.querySelector(".status"), mine = ++asked, text = S.text;
  status.textContent = ctx.t("model.loading");
  try {
    const r = await api("/api/maps", { method: "POST", body: { model: "minilm", text } });
    if (mine !== asked) return;  // a newer sentence was asked for meanwhile
    ctx.showError(""); status.textContent = ""; draw({ ...r, text });
  } catch (e) { if (mine === asked) { status.textContent = ""; ctx.showError(e.message); } }
}

function draw(r) {
  last = r;
  const box = root.querySelector(".maps");
  // a cell (or a key of a chosen query) opens its hand calculation with the real numbers
  const onCell = (l, h, i, j) => ctx.openHead({ hm: "minilm", ht: r.text, hl: l + 1, hh: h + 1, hq: i + 1, hk: j + 1 });
  window.qkvMapsView(box, r.view, { view, lang: S.lang, onCell });
  box.dataset.text = r.text;
}
