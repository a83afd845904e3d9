// The page: tabs, language, the error line, and the state kept in the URL (so that a link
// brings back the same preset, numbers and toggles). Each panel draws what the API computes.
import { el } from "./dom.js";
import { defaultLang, words } from "./i18n.js";
import * as trace from "./trace.js";
import * as scale from "./scale.js";
import * as gpt from "./gpt.js";
import * as model from "./model.js";
import * as check from "./check.js";

const PANELS = { trace, scale, gpt, model, check };
const params = new URLSearchParams(location.search);
const state = Object.fromEntries(params.entries());
state.panel = PANELS[state.panel] ? state.panel : "trace";
state.lang = state.lang === "zh" || state.lang === "en" ? state.lang : defaultLang();
window.qkvTimings = { start: performance.now(), recompute: [] };

const ctx = {
  state,
  t: words(state.lang),
  save() {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(state)) if (v !== undefined && v !== null && v !== "") q.set(k, v);
    history.replaceState(null, "", `${location.pathname}?${q}`);
  },
  showError(message) {
    const p = document.getElementById("error");
    p.textContent = message || ""; p.hidden = !message;
  },
  // the hand calculation of one cell of a model's attention: {hm, ht, hl, hh, hq, hk}
  openHead(where) {
    for (const [k, v] of Object.entries(where)) state[k] = v === undefined ? undefined : String(v);
    if (mounted.trace) PANELS.trace.openHead();
    show("trace");
  },
};
const mounted = {};

function tabs() {
  const nav = document.getElementById("tabs");
  nav.replaceChildren(...Object.keys(PANELS).map(name => el("button", {
    type: "button", class: name === state.panel ? "on" : "", dataset: { panel: name },
    text: ctx.t(`tab.${name}`), onclick: () => show(name),
  })));
  const on = nav.querySelector("button.on");  // a phone's tab row scrolls: keep the open tab in view
  if (on && nav.scrollWidth > nav.clientWidth) nav.scrollLeft = on.offsetLeft - nav.offsetLeft - 8;
  document.getElementById("lang").textContent = ctx.t("lang.other");
  document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
}

function show(name) {
  state.panel = name; ctx.showError(""); tabs();
  for (const p of Object.keys(PANELS)) document.getElementById(`panel-${p}`).hidden = p !== name;
  if (!mounted[name]) { mounted[name] = true; PANELS[name].mount(document.getElementById(`panel-${name}`), ctx); }
  else PANELS[name].shown?.();
  ctx.save();
}

document.getElementById("lang").addEventListener("click", () => {
  state.lang = state.lang === "zh" ? "en" : "zh";
  ctx.t = words(state.lang); ctx.showError(""); tabs();
  for (const name of Object.keys(mounted)) PANELS[name].relabel(ctx);
  ctx.save();
});

show(state.panel);
