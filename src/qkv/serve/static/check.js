// The checker: an article pasted or dropped -> /api/check (qkv.check/2) -> the text itself,
// each wrong number marked where it is written, with the true value beside it.
import { api } from "./api.js";
import { el, num } from "./dom.js";

let root, ctx, text = "", name = "article.md", last = null;

export function mount(section, context) { root = section; ctx = context; build(); }
export function relabel() { build(); if (last) draw(last); }

function build() {
  const t = ctx.t;
  const area = el("textarea", { class: "article", rows: 12, spellcheck: false, "aria-label": "article", oninput: e => { text = e.target.value; name = "article.md"; } });
  area.value = text;
  const file = el("input", { type: "file", class: "file", accept: ".md,.txt,.ipynb,.html,.htm", onchange: e => e.target.files[0] && read(e.target.files[0]) });
  const drop = el("div", { class: "drop", text: t("check.drop") });
  drop.addEventListener("dragover", e => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", e => { e.preventDefault(); drop.classList.remove("over"); if (e.dataTransfer.files[0]) read(e.dataTransfer.files[0]); });
  // example articles shipped with the page (static/example-*.md), each with mistakes to find
  const examples = el("select", { class: "examples", "aria-label": t("check.example"), onchange: e => e.target.value && load(e.target.value) },
    el("option", { value: "", text: t("check.example") }),
    ...EXAMPLES.map(k => el("option", { value: k, text: t(`check.example.${k}`) })));
  root.replaceChildren(el("p", { class: "intro", text: t("check.intro") }), area,
    el("div", { class: "row" }, el("button", { type: "button", class: "run", text: t("check.run"), onclick: run }),
      el("label", {}, t("check.file"), " ", file), examples), drop,
    el("p", { class: "summary" }), el("ol", { class: "findings" }), el("div", { class: "article-view" }));
}

const EXAMPLES = ["en", "zh"];

async function load(key) {
  try {
    const r = await fetch(`/static/example-${key}.md`);
    if (!r.ok) throw new Error(`${r.status}`);
    text = await r.text(); name = `example-${key}.md`;
    root.querySelector(".article").value = text;
    await run();
  } catch (e) { ctx.showError(e.message); }
}

function read(f) {
  const reader = new FileReader();
  reader.onload = () => { text = String(reader.result); name = f.name; root.querySelector(".article").value = text; run(); };
  reader.readAsText(f);
}

async function run() {
  try {
    const r = await api("/api/check", { method: "POST", body: { text, name } });
    ctx.showError(""); draw(r);
  } catch (e) { ctx.showError(e.message); }
}

// every number judged wrong: a finding's own, or one that follows from it
function marks(r) {
  const out = [];
  for (const f of r.findings) for (const v of f.kind === "mismatch" ? [f] : f.numbers || []) out.push({ ...v, cls: "wrong" });
  for (const c of r.consequences) out.push({ ...c, cls: "consequence" });
  return out;
}

function draw(r) {
  last = r;
  const t = ctx.t, all = marks(r);
  root.querySelector(".summary").textContent = r.checked ? t("check.summary", r) : t("check.none");
  root.querySelector(".findings").replaceChildren(...all.filter(v => v.cls === "wrong").map(v =>
    el("li", { text: `${t("check.line", v)}: ${t("check.written", { claimed: v.claimed, expected: expected(v) })}` })));
  const byLine = new Map();
  for (const v of all) byLine.set(v.line, [...(byLine.get(v.line) || []), v]);
  const lines = text.split("\n");
  root.querySelector(".article-view").replaceChildren(el("ol", { class: "lines" }, ...lines.map((line, k) =>
    el("li", { class: byLine.has(k + 1) ? "flagged" : "" }, ...marked(line, byLine.get(k + 1) || [])))));
}

// the true value with a digit more than the written one has, and at least three (as qkv check)
function expected(v) {
  if (typeof v.expected !== "number") return String(v.expected);
  const sig = String(v.claimed).replace(/^[-+−]/, "").replace(/[eE].*$/, "").replace(".", "").replace(/^0+/, "").length;
  return num(v.expected, Math.max(sig + 1, 3));
}

function escapeRe(s) { return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"); }

// the line as text nodes, the claimed numbers wrapped in <mark> with the true value after
function marked(line, vs) {
  const spans = [];
  for (const v of vs) {
    const re = new RegExp(`(?<![\\d.])${escapeRe(String(v.claimed))}(?![\\d])`, "g");
    let m;
    while ((m = re.exec(line))) {
      if (!spans.some(s => s.start < m.index + m[0].length && m.index < s.end)) { spans.push({ start: m.index, end: m.index + m[0].length, v }); break; }
    }
  }
  spans.sort((a, b) => a.start - b.start);
  const out = []; let at = 0;
  for (const s of spans) {
    out.push(line.slice(at, s.start));
    out.push(el("mark", { class: s.v.cls, title: s.v.cls === "wrong" ? "" : ctx.t("check.follows"), text: line.slice(s.start, s.end) }));
    out.push(el("span", { class: `true ${s.v.cls}`, text: `→ ${expected(s.v)}` }));
    at = s.end;
  }
  out.push(line.slice(at));
  return out;
}
