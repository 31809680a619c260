// Interactive flame graph as one self-contained SVG: no external resources,
// the script inline. Click a frame to zoom into it (its ancestors stay, dimmed,
// below it), "Reset Zoom" to go back, "Search" (or Ctrl-F, or ?s=regexp in
// the URL) to highlight matching frames and show what share of the total they
// cover, tooltips on every frame. Root frames are process (and thread) names.
// The layout follows Brendan Gregg's flamegraph.pl; the code is Vigil's.
import { stackPath, stackWeight, totals, weightUnit, type PathKind, type Profile, type StackPathOptions } from './profile.js';

export interface FlameGraphOptions extends StackPathOptions {
  title?: string;
  /** Image width in pixels; default 1200. */
  width?: number;
  /** Frames narrower than this (pixels) are left out; default 0.1. */
  minWidth?: number;
  /** Icicle graph (root at the top) instead of a flame graph. */
  inverted?: boolean;
}

interface Node {
  name: string;
  kind: PathKind;
  value: number;
  children: Map<string, Node>;
}

const FRAME_HEIGHT = 16;
const FONT_SIZE = 12;
const FONT_WIDTH = 0.59;
const PAD = 10;
const TOP = FONT_SIZE * 3;
const BOTTOM = FONT_SIZE * 2 + 10;

export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!)
    // Characters XML 1.0 does not allow.
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '?');
}

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return (h >>> 0) / 0xffffffff;
}

/** Colour by kind of frame; the name varies the shade so neighbours differ. */
function color(name: string, kind: PathKind): string {
  const v = hash(name);
  const w = hash(name.split('').reverse().join(''));
  const rgb = (r: number, g: number, b: number) => `rgb(${Math.round(r)},${Math.round(g)},${Math.round(b)})`;
  switch (kind) {
    case 'process': return rgb(80 + 40 * v, 130 + 40 * w, 220);
    case 'thread': return rgb(130 + 40 * v, 170 + 30 * w, 230);
    case 'kernel': return rgb(220 + 30 * v, 130 + 50 * w, 40 * v);
    case 'jit': return rgb(60 * v, 190 + 50 * w, 60 * w);
    case 'unknown': return rgb(170 + 30 * v, 170 + 30 * v, 170 + 30 * v);
    default: return rgb(205 + 50 * v, 230 * w, 55 * w); // user code: flamegraph.pl's "hot"
  }
}

/** The label that fits `width` pixels. */
function label(name: string, width: number): string {
  const fit = Math.floor((width - 6) / (FONT_SIZE * FONT_WIDTH));
  if (fit < 3) return '';
  return name.length <= fit ? name : `${name.slice(0, fit - 2)}..`;
}

function buildTree(p: Profile, opts: StackPathOptions): { root: Node; depth: number } {
  const root: Node = { name: 'all', kind: 'process', value: 0, children: new Map() };
  let depth = 0;
  for (const s of p.stacks) {
    const w = stackWeight(p, s);
    if (w <= 0) continue;
    root.value += w;
    let node = root;
    const path = stackPath(s, opts);
    depth = Math.max(depth, path.length);
    for (const f of path) {
      const key = `${f.kind}\0${f.name}`;
      let child = node.children.get(key);
      if (!child) node.children.set(key, (child = { name: f.name, kind: f.kind, value: 0, children: new Map() }));
      child.value += w;
      node = child;
    }
  }
  return { root, depth };
}

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}

export function toFlameGraphSvg(p: Profile, opts: FlameGraphOptions = {}): string {
  const width = opts.width ?? 1200;
  const minWidth = opts.minWidth ?? 0.1;
  const { root, depth } = buildTree(p, opts);
  const levels = depth + 1;
  const height = TOP + levels * FRAME_HEIGHT + BOTTOM;
  const unit = weightUnit(p);
  const total = root.value;
  const scale = total > 0 ? (width - 2 * PAD) / total : 0;
  const t = totals(p);
  const seconds = Math.max(0, (p.endMs - p.startMs) / 1000);
  const title = opts.title ?? (p.mode === 'cpu' ? 'CPU Flame Graph' : 'Off-CPU Time Flame Graph');
  const subtitle = p.mode === 'cpu'
    ? `on-CPU samples at ${p.frequency} Hz per CPU, ${seconds.toFixed(1)} s, ${fmt(t.count)} samples`
    : `time off the CPU (microseconds), ${seconds.toFixed(1)} s, ${fmt(t.count)} context switches`;

  const frames: string[] = [];
  const emit = (n: Node, x: number, d: number): void => {
    const w = n.value * scale;
    if (w < minWidth) return;
    const y = opts.inverted ? TOP + d * FRAME_HEIGHT : TOP + (levels - 1 - d) * FRAME_HEIGHT;
    const pct = total ? ((100 * n.value) / total).toFixed(2) : '0';
    const tip = `${n.name}\n${fmt(n.value)} ${unit} (${pct}%)`;
    frames.push(`<g class="f" data-d="${d}"><title>${escapeXml(tip)}</title>` +
      `<rect x="${(PAD + x).toFixed(2)}" y="${y}" width="${w.toFixed(2)}" height="${FRAME_HEIGHT - 1}" ` +
      `fill="${color(n.name, n.kind)}" rx="2" ry="2"/>` +
      `<text x="${(PAD + x + 3).toFixed(2)}" y="${y + FRAME_HEIGHT - 4.5}">${escapeXml(label(n.name, w))}</text></g>`);
    let cx = x;
    const children = [...n.children.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const c of children) {
      emit(c, cx, d + 1);
      cx += c.value * scale;
    }
  };
  if (total > 0) emit(root, 0, 0);

  return `<?xml version="1.0" standalone="no"?>
<svg version="1.1" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" onload="init(evt)" \
xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" data-total="${total}" \
data-unit="${escapeXml(unit)}" data-width="${width}" data-pad="${PAD}">
<!-- Flame graph made by Vigil (vigil profile, svg output). Self-contained: no external resources. -->
<defs>
  <linearGradient id="background" y1="0" y2="1" x1="0" x2="0">
    <stop stop-color="#eeeeee" offset="5%"/>
    <stop stop-color="#eeeeb0" offset="95%"/>
  </linearGradient>
</defs>
<style type="text/css">
  text { font-family: Verdana, sans-serif; font-size: ${FONT_SIZE}px; fill: rgb(0,0,0); }
  #title { text-anchor: middle; font-size: ${FONT_SIZE + 5}px; }
  #subtitle { text-anchor: middle; fill: rgb(80,80,80); }
  #search, #unzoom, #matched { cursor: pointer; }
  #search, #matched { text-anchor: end; }
  #unzoom.hide, #matched.hide { display: none; }
  g.f { cursor: pointer; }
  g.f:hover > rect { stroke: black; stroke-width: 0.5; }
  g.f > text { pointer-events: none; }
  g.hide { display: none; }
  g.anc > rect { opacity: 0.5; }
</style>
<script type="text/ecmascript"><![CDATA[
${SCRIPT}
]]></script>
<rect x="0" y="0" width="${width}" height="${height}" fill="url(#background)"/>
<text id="title" x="${width / 2}" y="${FONT_SIZE * 1.5}">${escapeXml(title)}</text>
<text id="subtitle" x="${width / 2}" y="${FONT_SIZE * 2.7}">${escapeXml(subtitle)}</text>
<text id="unzoom" class="hide" x="${PAD}" y="${FONT_SIZE * 1.5}">Reset Zoom</text>
<text id="search" x="${width - PAD}" y="${FONT_SIZE * 1.5}">Search</text>
<text id="details" x="${PAD}" y="${height - 12}"> </text>
<text id="matched" class="hide" x="${width - PAD}" y="${height - 12}"> </text>
<g id="frames">
${frames.join('\n')}
</g>
</svg>
`;
}

// The inline script: plain ES5-compatible JavaScript, no dependencies.
const SCRIPT = String.raw`
"use strict";
var svg, framesG, details, unzoomBtn, searchBtn, matchedTxt;
var all = [], total = 0, fullWidth = 0, pad = 0, zoomed = null, searching = null;
var FONT = ${FONT_SIZE}, FONTW = ${FONT_WIDTH};

function init(evt) {
  svg = document.documentElement;
  framesG = document.getElementById("frames");
  details = document.getElementById("details");
  unzoomBtn = document.getElementById("unzoom");
  searchBtn = document.getElementById("search");
  matchedTxt = document.getElementById("matched");
  total = parseFloat(svg.getAttribute("data-total")) || 0;
  fullWidth = parseFloat(svg.getAttribute("data-width")) || 1200;
  pad = parseFloat(svg.getAttribute("data-pad")) || 10;
  var gs = framesG.getElementsByTagName("g");
  for (var i = 0; i < gs.length; i++) {
    var g = gs[i], r = g.getElementsByTagName("rect")[0], t = g.getElementsByTagName("title")[0];
    var tip = t ? t.textContent : "";
    all.push({ g: g, rect: r, text: g.getElementsByTagName("text")[0], tip: tip,
      name: tip.split("\n")[0], x: parseFloat(r.getAttribute("x")), w: parseFloat(r.getAttribute("width")),
      d: parseInt(g.getAttribute("data-d"), 10), fill: r.getAttribute("fill") });
    g.__frame = all[all.length - 1];
  }
  framesG.addEventListener("click", function (e) {
    var g = frameOf(e.target);
    if (g) zoom(g.__frame);
  });
  framesG.addEventListener("mouseover", function (e) {
    var g = frameOf(e.target);
    if (g) details.textContent = g.__frame.tip.replace("\n", ": ");
  });
  framesG.addEventListener("mouseout", function () { details.textContent = " "; });
  unzoomBtn.addEventListener("click", unzoom);
  searchBtn.addEventListener("click", function () { if (searching) resetSearch(); else searchPrompt(); });
  window.addEventListener("keydown", function (e) {
    if ((e.ctrlKey || e.metaKey) && (e.key === "f" || e.keyCode === 70) || e.keyCode === 114) {
      e.preventDefault();
      searchPrompt();
    } else if (e.key === "Escape") {
      resetSearch();
      unzoom();
    }
  });
  var m = /[?&]s=([^&]*)/.exec(window.location.search || "");
  if (m) search(decodeURIComponent(m[1]));
}

function frameOf(el) {
  while (el && el !== framesG) {
    if (el.__frame) return el;
    el = el.parentNode;
  }
  return null;
}

function fitText(f, width) {
  var fit = Math.floor((width - 6) / (FONT * FONTW));
  var s = fit < 3 ? "" : f.name.length <= fit ? f.name : f.name.substring(0, fit - 2) + "..";
  f.text.textContent = s;
}

function place(f, x, w) {
  f.rect.setAttribute("x", x.toFixed(2));
  f.rect.setAttribute("width", w.toFixed(2));
  f.text.setAttribute("x", (x + 3).toFixed(2));
  fitText(f, w);
}

function zoom(z) {
  var eps = 0.0001, scale = (fullWidth - 2 * pad) / z.w;
  zoomed = z;
  unzoomBtn.setAttribute("class", "");
  for (var i = 0; i < all.length; i++) {
    var f = all[i];
    var inside = f.x >= z.x - eps && f.x + f.w <= z.x + z.w + eps;
    if (f.d >= z.d && inside) {
      f.g.setAttribute("class", "f");
      place(f, pad + (f.x - z.x) * scale, f.w * scale);
    } else if (f.d < z.d && f.x <= z.x + eps && f.x + f.w >= z.x + z.w - eps) {
      f.g.setAttribute("class", "f anc");
      place(f, pad, fullWidth - 2 * pad);
    } else {
      f.g.setAttribute("class", "f hide");
    }
  }
  if (searching) search(searching);
}

function unzoom() {
  zoomed = null;
  unzoomBtn.setAttribute("class", "hide");
  for (var i = 0; i < all.length; i++) {
    var f = all[i];
    f.g.setAttribute("class", "f");
    place(f, f.x, f.w);
  }
  if (searching) search(searching);
}

function searchPrompt() {
  var term = window.prompt("Search for (a regular expression):", searching || "");
  if (term) search(term);
}

function search(term) {
  var re;
  try { re = new RegExp(term); } catch (e) { re = new RegExp(term.replace(/[.*+?^$()|[\]\\{}]/g, "\\$&")); }
  searching = term;
  var spans = [];
  var base = zoomed || null;
  for (var i = 0; i < all.length; i++) {
    var f = all[i];
    if (re.test(f.name)) {
      f.rect.setAttribute("fill", "rgb(230,0,230)");
      if (!base || (f.x >= base.x - 0.0001 && f.x + f.w <= base.x + base.w + 0.0001 && f.d >= base.d)) {
        spans.push([f.x, f.x + f.w]);
      }
    } else {
      f.rect.setAttribute("fill", f.fill);
    }
  }
  // Nested matches count once: merge the horizontal spans.
  spans.sort(function (a, b) { return a[0] - b[0]; });
  var covered = 0, end = -Infinity;
  for (var j = 0; j < spans.length; j++) {
    var s = spans[j];
    if (s[0] >= end) { covered += s[1] - s[0]; end = s[1]; }
    else if (s[1] > end) { covered += s[1] - end; end = s[1]; }
  }
  var whole = base ? base.w : fullWidth - 2 * pad;
  var pct = whole > 0 ? (100 * covered / whole) : 0;
  matchedTxt.textContent = "Matched: " + pct.toFixed(1) + "%";
  matchedTxt.setAttribute("class", "");
  searchBtn.textContent = "Reset Search";
}

function resetSearch() {
  searching = null;
  for (var i = 0; i < all.length; i++) all[i].rect.setAttribute("fill", all[i].fill);
  matchedTxt.setAttribute("class", "hide");
  searchBtn.textContent = "Search";
}
`;
