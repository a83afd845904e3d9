// The model and head views of attention maps: one drawing for the offline pages of
// `qkv viz --view model|head` and for `qkv serve`. Data: qkv.viz.page.encode (sparse rows of
// the strongest keys, weights in thousandths, thumbnails, a bitmap of masked cells).
// Every token reaches the DOM through textContent or canvas text, never as markup; labels
// are D.labels and D.key_labels (whitespace shown as ␣ ⏎ ⇥), the tokens themselves stay data.
"use strict";
(function () {
  const WORDS = {
    en: { layer: "layer", head: "head", heads: "heads", layout: "layout", vertical: "vertical",
      horizontal: "horizontal", below: "below 0.01", masked: "masked (0 in every head)",
      weak: "not kept: weaker than the row's strongest", weight: "weight",
      focus: "click a token on the left to see only its lines; hover a key for its weights",
      strongest: "strongest", query: "query", key: "key" },
    zh: { layer: "层", head: "头", heads: "注意力头", layout: "排列", vertical: "竖排",
      horizontal: "横排", below: "小于 0.01", masked: "被遮住(所有头都是 0)",
      weak: "未保留:弱于这一行最强的几个", weight: "权重",
      focus: "点左边的词只看它的连线;把鼠标放在右边的词上看权重", strongest: "最强",
      query: "查询", key: "键" },
  };
  // distinct colours, one per head (cycled past twelve)
  const HEAD_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
    "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939"];
  const BELOW = [255, 255, 255], MASKED = [158, 158, 158], WEAK = [255, 233, 168];
  const LOW = [199, 233, 241], HIGH = [8, 48, 107];
  const MAX_CANVAS = 30000;  // pixels along one side; browsers refuse larger canvases

  function bytes(s) {
    const b = atob(s), u = new Uint8Array(b.length);
    for (let i = 0; i < b.length; i++) u[i] = b.charCodeAt(i);
    return u;
  }
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function ramp(w) {  // 0.01 .. 1 -> light .. dark blue
    const t = Math.max(0, Math.min(1, (w - 0.01) / 0.99));
    return LOW.map((a, k) => Math.round(a + (HIGH[k] - a) * t));
  }
  function css(c) { return `rgb(${c[0]},${c[1]},${c[2]})`; }

  function decode(D) {
    const counts = bytes(D.counts), start = new Uint32Array(counts.length + 1);
    for (let i = 0; i < counts.length; i++) start[i + 1] = start[i] + counts[i];
    const idxBytes = bytes(D.idx), wBytes = bytes(D.w);
    const Index = D.idx_bytes === 4 ? Uint32Array : Uint16Array;  // uint32 beyond 65,536 keys
    return { counts, start, idx: new Index(idxBytes.buffer, 0, idxBytes.length / Index.BYTES_PER_ELEMENT),
      w: new Uint16Array(wBytes.buffer, 0, wBytes.length / 2), thumbs: bytes(D.thumbs),
      cut: bytes(D.cut), masked: bytes(D.masked) };
  }

  function mapsView(root, D, opts) {
    opts = opts || {};
    const T = WORDS[opts.lang] || WORDS.en, X = decode(D);
    // the labels of the queries and of the keys (other tokens in cross-attention)
    const QL = D.labels || D.tokens, KL = D.key_labels || D.key_tokens || QL;
    const cur = { view: opts.view === "head" ? "head" : "model",
      layer: Math.min(opts.layer || 0, D.layers - 1), head: Math.min(opts.head || 0, D.heads - 1),
      shown: new Set([Math.min(opts.head || 0, D.heads - 1)]), token: -1 };
    const row = (l, h, i) => (l * D.heads + h) * D.n + i;
    function entries(l, h, i) {
      const r = row(l, h, i), out = [];
      for (let p = X.start[r]; p < X.start[r + 1]; p++) out.push([X.idx[p], X.w[p] / 1000]);
      return out;
    }
    function isMasked(i, j) { const b = i * D.s + j; return (X.masked[b >> 3] >> (7 - (b & 7))) & 1; }
    // what one cell holds: a weight (3 decimals, exact), below 0.01, masked, or not kept
    function cell(l, h, i, j) {
      if (isMasked(i, j)) return { kind: "masked" };
      const e = entries(l, h, i), hit = e.find(([k]) => k === j);
      if (hit) return { kind: "value", w: hit[1] };
      if (X.cut[row(l, h, i)]) return { kind: "weak", bound: e.length ? e[e.length - 1][1] : 0 };
      return { kind: "below" };
    }
    function cellText(c) {
      if (c.kind === "value") return c.w.toFixed(3);
      if (c.kind === "weak") return `≤ ${c.bound.toFixed(3)} (${T.weak})`;
      return T[c.kind];
    }
    function colourOf(c) {
      return c.kind === "value" ? ramp(c.w) : c.kind === "masked" ? MASKED : c.kind === "weak" ? WEAK : BELOW;
    }

    root.replaceChildren();
    root.classList.add("qkv-maps", `qkv-${cur.view}-view`);
    const controls = el("div", "controls");
    const layerSel = select(T.layer, "layer", D.layers, cur.layer, v => { cur.layer = v; draw(); });
    controls.append(layerSel.label);
    let headSel = null, layoutSel = null;
    if (cur.view === "model") {
      headSel = select(T.head, "head", D.heads, cur.head, v => { cur.head = v; draw(); });
      controls.append(headSel.label);
    } else {
      const lab = el("label", null, T.layout + " ");
      layoutSel = el("select", "layout");
      for (const v of ["vertical", "horizontal"]) { const o = el("option", null, T[v]); o.value = v; layoutSel.append(o); }
      layoutSel.addEventListener("change", () => draw());
      lab.append(layoutSel); controls.append(lab);
    }
    root.append(controls);
    const body = el("div", "body"), hover = el("p", "hover", cur.view === "head" ? T.focus : "");
    let grid = null, heat = null, chips = null, lines = null;
    if (cur.view === "model") {
      grid = el("div", "grid"); heat = el("canvas", "heat");
      const side = el("div", "heatbox"), axes = el("div", "heataxes");
      axes.append(el("span"), el("span", "axis-title key", T.key + " →"),
        el("span", "axis-title query", T.query + " →"), heat);
      side.append(axes, legend(), hover);
      body.append(grid, side); buildGrid();
      heat.addEventListener("mousemove", ev => { const c = heatCell(ev); hover.textContent = c || ""; });
      heat.addEventListener("mouseleave", () => { hover.textContent = ""; });
      // opts.onCell(layer, head, query, key), 0-based: qkv serve opens that cell's hand
      // calculation; the offline pages pass none
      if (opts.onCell) heat.addEventListener("click", ev => {
        const at = heatIndex(ev);
        if (at) opts.onCell(cur.layer, cur.head, at[0], at[1]);
      });
    } else {
      chips = el("div", "chips"); lines = el("div", "headbox");
      body.append(chips, lines, hover); buildChips();
      // a page, a notebook's output or a panel of qkv serve: redraw when its width changes
      if (typeof ResizeObserver !== "undefined")
        new ResizeObserver(() => { if (root.clientWidth && root.clientWidth !== drawnWidth) drawLines(); }).observe(root);
    }
    let drawnWidth = 0;
    root.append(body);
    draw();
    return { select: (l, h) => { cur.layer = l; cur.head = h; cur.shown = new Set([h]); draw(); } };

    function select(word, cls, n, value, onChange) {
      const label = el("label", null, word + " "), s = el("select", cls);
      for (let i = 0; i < n; i++) { const o = el("option", null, String(i + 1)); o.value = i; s.append(o); }
      s.value = value; s.addEventListener("change", () => onChange(+s.value));
      label.append(s); return { label, s };
    }
    function legend() {
      const box = el("div", "legend"), bar = el("canvas", "ramp"); bar.width = 120; bar.height = 10;
      const ctx = bar.getContext("2d");
      for (let x = 0; x < 120; x++) { ctx.fillStyle = css(ramp(0.01 + 0.99 * x / 119)); ctx.fillRect(x, 0, 1, 10); }
      box.append(el("span", null, `${T.weight} 0.01`), bar, el("span", null, "1"));
      const kinds = [["below", BELOW], ["masked", MASKED]];
      if (X.cut.some(v => v)) kinds.push(["weak", WEAK]);
      for (const [k, c] of kinds) {
        const sw = el("span", `swatch ${k}`); sw.style.background = css(c);
        const item = el("span", "item"); item.append(sw, el("span", null, T[k])); box.append(item);
      }
      return box;
    }
    function buildGrid() {
      grid.style.gridTemplateColumns = `3rem repeat(${D.heads}, 40px)`;
      grid.append(el("div", "lab"));
      for (let h = 0; h < D.heads; h++) {
        const lab = el("div", "lab", `${T.head} ${h + 1}`); lab.style.color = HEAD_COLOURS[h % 12]; grid.append(lab);
      }
      for (let l = 0; l < D.layers; l++) {
        grid.append(el("div", "lab", `${T.layer} ${l + 1}`));
        for (let h = 0; h < D.heads; h++) {
          const c = el("canvas"); c.width = D.thumb; c.height = D.thumb;
          c.dataset.layer = l; c.dataset.head = h; c.title = `${T.layer} ${l + 1}, ${T.head} ${h + 1}`;
          c.style.borderColor = HEAD_COLOURS[h % 12];
          c.addEventListener("click", () => { cur.layer = l; cur.head = h; draw(); });
          thumb(c, l, h); grid.append(c);
        }
      }
    }
    function thumb(canvas, l, h) {
      const t = D.thumb, ctx = canvas.getContext("2d"), img = ctx.createImageData(t, t);
      const base = (l * D.heads + h) * t * t;
      for (let p = 0; p < t * t; p++) img.data.set([...ramp(X.thumbs[base + p] / 255), 255], 4 * p);
      ctx.putImageData(img, 0, 0);
    }
    function buildChips() {
      chips.append(el("span", null, T.heads + ": "));
      for (let h = 0; h < D.heads; h++) {
        const b = el("button", "chip", String(h + 1)); b.type = "button"; b.dataset.head = h;
        b.style.borderColor = HEAD_COLOURS[h % 12]; b.title = `${T.head} ${h + 1}`;
        b.addEventListener("click", () => {
          if (cur.shown.has(h) && cur.shown.size > 1) cur.shown.delete(h); else cur.shown.add(h);
          draw();
        });
        chips.append(b);
      }
    }
    function draw() {
      layerSel.s.value = cur.layer;
      if (cur.view === "model") {
        headSel.s.value = cur.head;
        grid.querySelectorAll("canvas").forEach(c => c.classList.toggle("on", +c.dataset.layer === cur.layer && +c.dataset.head === cur.head));
        drawHeat();
      } else {
        chips.querySelectorAll(".chip").forEach(b => {
          const on = cur.shown.has(+b.dataset.head);
          b.classList.toggle("on", on); b.style.background = on ? HEAD_COLOURS[+b.dataset.head % 12] : "";
        });
        drawLines();
      }
    }
    // the chosen head as cells with token labels on both axes
    function heatGeometry() {
      const c = Math.max(2, Math.min(48, Math.floor(480 / Math.max(D.n, D.s))));  // a short input: big cells
      const font = Math.min(14, c), every = Math.ceil(10 / c);
      const ctx = heat.getContext("2d"); ctx.font = `${font}px sans-serif`;
      const width = Math.min(120, Math.max(...QL.concat(KL).map(t => ctx.measureText(t).width))) + 6;
      return { c, font, every, left: width, top: width };
    }
    function drawHeat() {
      const g = heatGeometry(), W = g.left + D.s * g.c + 2, H = g.top + D.n * g.c + 2;
      heat.width = W; heat.height = H; heat.dataset.layer = cur.layer; heat.dataset.head = cur.head;
      const ctx = heat.getContext("2d"), img = ctx.createImageData(D.s, D.n);
      for (let i = 0; i < D.n; i++) for (let j = 0; j < D.s; j++)
        img.data.set([...colourOf(cell(cur.layer, cur.head, i, j)), 255], 4 * (i * D.s + j));
      const tmp = el("canvas"); tmp.width = D.s; tmp.height = D.n; tmp.getContext("2d").putImageData(img, 0, 0);
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(tmp, g.left, g.top, D.s * g.c, D.n * g.c);
      if (g.c >= 6) hatch(ctx, g);
      ctx.fillStyle = "#222"; ctx.font = `${g.font}px sans-serif`; ctx.textBaseline = "middle";
      for (let i = 0; i < D.n; i += g.every) {
        ctx.textAlign = "right"; ctx.fillText(QL[i] ?? "", g.left - 3, g.top + (i + 0.5) * g.c, g.left - 4);
      }
      for (let j = 0; j < D.s; j += g.every) {
        ctx.save(); ctx.translate(g.left + (j + 0.5) * g.c, g.top - 3); ctx.rotate(-Math.PI / 2);
        ctx.textAlign = "left"; ctx.fillText(KL[j] ?? "", 0, 0, g.top - 4); ctx.restore();
      }
    }
    function hatch(ctx, g) {
      ctx.strokeStyle = "rgba(255,255,255,0.8)"; ctx.lineWidth = 1;
      for (let i = 0; i < D.n; i++) for (let j = 0; j < D.s; j++) {
        if (!isMasked(i, j)) continue;
        const x = g.left + j * g.c, y = g.top + i * g.c;
        ctx.beginPath(); ctx.moveTo(x, y + g.c); ctx.lineTo(x + g.c, y); ctx.stroke();
      }
    }
    function heatIndex(ev) {  // the (query, key) under the mouse, or null
      const g = heatGeometry(), r = heat.getBoundingClientRect();
      const x = (ev.clientX - r.left) * heat.width / r.width, y = (ev.clientY - r.top) * heat.height / r.height;
      const i = Math.floor((y - g.top) / g.c), j = Math.floor((x - g.left) / g.c);
      return i < 0 || j < 0 || i >= D.n || j >= D.s ? null : [i, j];
    }
    function heatCell(ev) {
      const at = heatIndex(ev);
      if (!at) return null;
      const [i, j] = at;
      return `${QL[i]} → ${KL[j]}: ${cellText(cell(cur.layer, cur.head, i, j))}`;
    }
    function describe(i, j) {
      const parts = [...cur.shown].sort((a, b) => a - b).map(h => `${T.head} ${h + 1} ${cellText(cell(cur.layer, h, i, j))}`);
      return `${QL[i]} → ${KL[j]}: ${parts.join(" · ")}`;
    }
    // The head view takes the width it is given, with rows tall enough to read (the page
    // scrolls for long inputs): labels at their measured width, the lines across the rest, but
    // no more than three times as wide as tall, so that a short input's lines keep a slope.
    function headGeometry(vertical) {
      const count = Math.max(D.n, D.s), width = Math.max(320, root.clientWidth || 900);
      const tall = Math.max(320, 0.75 * (window.innerHeight || 800));
      let step = vertical ? Math.max(20, Math.min(48, Math.floor(tall / count))) : Math.max(20, Math.floor(width / count));
      step = Math.max(1, Math.min(step, Math.floor(MAX_CANVAS / count)));
      const font = Math.min(step, Math.max(12, Math.min(vertical ? 20 : 16, Math.round(0.5 * step))));
      const ctx = el("canvas").getContext("2d"); ctx.font = `${font}px sans-serif`;
      const longest = labels => Math.ceil(Math.max(0, ...labels.map(t => ctx.measureText(t).width))) + 12;
      const title = 24;  // the "query" and "key" titles
      if (vertical) {
        const qW = Math.min(longest(QL), Math.floor(0.3 * width)), kW = Math.min(longest(KL), Math.floor(0.3 * width));
        const H = count * step, gap = Math.max(160, Math.min(width - qW - kW, Math.max(320, 3 * H)));
        return { vertical, step, font, title, qW, kW, W: qW + gap + kW, H };
      }
      const band = Math.min(200, longest(QL.concat(KL))), gap = Math.max(160, Math.min(400, Math.round(0.4 * tall)));
      return { vertical, step, font, title, band, gap, W: count * step, H: 2 * band + gap };
    }
    // lines from each token (left or top) to the tokens it attends, one colour per head
    function drawLines() {
      lines.replaceChildren();
      const g = headGeometry(layoutSel.value === "vertical"), vertical = g.vertical, step = g.step, t0 = g.title;
      drawnWidth = root.clientWidth;
      const W = g.W, H = g.H + (vertical ? t0 : 2 * t0);
      lines.style.width = W + "px"; lines.style.height = H + "px";
      const canvas = el("canvas", "lines"); canvas.width = W; canvas.height = H;
      const axis = (word, cls, left, top, align) => {
        const d = el("div", `axis-title ${cls}`, word); d.style.left = left + "px"; d.style.top = top + "px";
        d.style.textAlign = align; d.style.width = (vertical ? (cls === "query" ? g.qW : g.kW) : W) + "px"; lines.append(d);
      };
      if (vertical) { axis(T.query, "query", 0, 0, "right"); axis(T.key, "key", W - g.kW, 0, "left"); }
      else { axis(T.query + " ↓", "query", 0, 0, "left"); axis(T.key, "key", 0, H - t0 + 4, "left"); }
      const place = (side, i) => {
        const label = (side === "q" ? QL : KL)[i] ?? "";
        const d = el("div", "tok", label); d.dataset.side = side; d.dataset.index = i; d.title = label;
        d.style.fontSize = g.font + "px";
        if (side === "q" && D.special.includes(i)) d.classList.add("special");
        if (vertical) {
          d.style.top = (t0 + i * step) + "px"; d.style.height = step + "px"; d.style.lineHeight = step + "px";
          d.style.width = (side === "q" ? g.qW - 6 : g.kW - 6) + "px"; d.style.left = side === "q" ? "0" : (W - g.kW + 6) + "px";
          d.style.textAlign = side === "q" ? "right" : "left";
        } else {
          d.style.left = (i * step) + "px"; d.style.width = step + "px"; d.style.lineHeight = step + "px";
          d.style.top = (side === "q" ? t0 : t0 + g.band + g.gap + 6) + "px";
          d.style.height = (g.band - 6) + "px"; d.style.writingMode = "vertical-rl";
          d.style.textAlign = side === "q" ? "right" : "left";
        }
        if (side === "q") {
          if (i === cur.token) d.classList.add("sel");
          d.addEventListener("click", () => { cur.token = cur.token === i ? -1 : i; drawLines(); });
        } else {
          d.addEventListener("mouseenter", () => { if (cur.token >= 0) hover.textContent = describe(cur.token, i); });
          // a key clicked while a query is chosen: the first shown head's hand calculation
          if (opts.onCell) d.addEventListener("click", () => {
            if (cur.token >= 0) opts.onCell(cur.layer, Math.min(...cur.shown), cur.token, i);
          });
        }
        lines.append(d);
      };
      for (let i = 0; i < D.n; i++) place("q", i);
      for (let j = 0; j < D.s; j++) place("k", j);
      lines.append(canvas);
      const ctx = canvas.getContext("2d");
      for (const h of cur.shown) {
        ctx.strokeStyle = HEAD_COLOURS[h % 12];
        for (let i = 0; i < D.n; i++) {
          if (cur.token >= 0 && i !== cur.token) continue;
          for (const [j, w] of entries(cur.layer, h, i)) {
            ctx.globalAlpha = Math.min(1, 0.15 + w); ctx.lineWidth = 1 + 2 * w; ctx.beginPath();
            if (vertical) { ctx.moveTo(g.qW, t0 + (i + 0.5) * step); ctx.lineTo(W - g.kW, t0 + (j + 0.5) * step); }
            else { ctx.moveTo((i + 0.5) * step, t0 + g.band); ctx.lineTo((j + 0.5) * step, t0 + g.band + g.gap); }
            ctx.stroke();
          }
        }
      }
      ctx.globalAlpha = 1;
    }
  }
  globalThis.qkvMapsView = mapsView;
})();
