// The UI's own small SVG charts: a stacked bar histogram (click a bar or one of its segments,
// drag across bars to pick a range) and the horizontal bars drawn in table cells. No charting
// library: these two shapes are all the overview needs, in a few KB, with no dependency to
// vendor or update. Every mark carries a <title> (its numbers on hover) and an aria-label.

const NS = 'http://www.w3.org/2000/svg';

/** Creates an SVG element (attributes as strings; children nodes or text). */
export function svg(tag, attrs, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined && v !== false) el.setAttribute(k, String(v));
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const title = (text) => svg('title', {}, text);
const MARGIN = { left: 52, right: 8, top: 8, bottom: 20 };

/** A round number at or above `n`, so the y axis reads 10, 20, 50, 100, … */
function niceMax(n) {
  if (n <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(n));
  return [1, 2, 2.5, 5, 10].map((m) => m * p).find((v) => v >= n);
}

/**
 * A stacked bar chart, one bar per bucket, one segment per type.
 * opts: buckets [{ counts: {type: n}, label, tick }], types (stacking order), width, height,
 * label (aria), fmt(n), dimType(type) (true: draw that type's segments faded),
 * onPick(index, type|null) for a click or Enter, onRange(first, last) for a drag.
 */
export function stackedBars(opts) {
  const { buckets, types, width, height, fmt = String } = opts;
  const totals = buckets.map((b) => types.reduce((n, t) => n + (b.counts[t] || 0), 0));
  const plotW = Math.max(10, width - MARGIN.left - MARGIN.right);
  const plotH = Math.max(10, height - MARGIN.top - MARGIN.bottom);
  const max = niceMax(Math.max(0, ...totals));
  const geo = { plotW, plotH, bw: plotW / Math.max(1, buckets.length), y: (v) => MARGIN.top + plotH - (v / max) * plotH };
  const root = svg('svg', {
    class: 'chart histogram', width, height, viewBox: `0 0 ${width} ${height}`, role: 'group', 'aria-label': opts.label,
    'data-testid': 'histogram',
  });
  const bars = svg('g', { class: 'bars' });
  buckets.forEach((b, i) => bars.append(bar(b, i, totals[i], geo, opts)));
  const band = svg('rect', { class: 'drag-band', x: 0, y: MARGIN.top, width: 0, height: plotH, visibility: 'hidden' });
  root.append(yAxis(max, geo, fmt), xTicks(buckets, geo), bars, band);
  wirePointer(root, bars, band, geo, opts);
  return root;
}

function yAxis(max, geo, fmt) {
  return svg('g', { class: 'axis', 'aria-hidden': 'true' }, [0, 0.5, 1].map((f) => {
    const yy = geo.y(max * f);
    return [
      svg('line', { x1: MARGIN.left, x2: MARGIN.left + geo.plotW, y1: yy, y2: yy, class: f ? 'grid' : 'base' }),
      svg('text', { x: MARGIN.left - 6, y: yy + 4, 'text-anchor': 'end' }, fmt(max * f)),
    ];
  }));
}

/** Labels under a few bars: the first, the last, and some between, never crowded. */
function xTicks(buckets, geo) {
  const n = buckets.length;
  const every = Math.max(1, Math.ceil(n / Math.max(1, Math.floor(geo.plotW / 110))));
  const g = svg('g', { class: 'axis', 'aria-hidden': 'true' });
  for (let i = 0; i < n; i += every) {
    const x = MARGIN.left + i * geo.bw;
    g.append(svg('text', { x, y: MARGIN.top + geo.plotH + 14, 'text-anchor': i ? 'middle' : 'start' }, buckets[i].tick || ''));
  }
  return g;
}

function bar(b, i, total, geo, opts) {
  const x = MARGIN.left + i * geo.bw;
  const w = Math.max(1, geo.bw - (geo.bw > 4 ? 1 : 0));
  const parts = opts.types.filter((t) => b.counts[t]).map((t) => `${t}: ${opts.fmt ? opts.fmt(b.counts[t]) : b.counts[t]}`);
  const text = `${b.label}: ${opts.fmt ? opts.fmt(total) : total} event${total === 1 ? '' : 's'}${parts.length ? ` (${parts.join(', ')})` : ''}`;
  const g = svg('g', {
    class: 'hbar', tabindex: '0', role: 'button', 'aria-label': text, 'data-testid': 'histogram-bar', 'data-index': i, 'data-total': total,
  }, title(text), svg('rect', { class: 'hit', x, y: MARGIN.top, width: w, height: geo.plotH }));
  let base = 0;
  for (const t of opts.types) {
    const n = b.counts[t] || 0;
    if (!n) continue;
    const top = geo.y(base + n);
    g.append(svg('rect', {
      class: `seg t-${t}${opts.dimType && opts.dimType(t) ? ' dim' : ''}`, x, y: top, width: w, height: Math.max(0.5, geo.y(base) - top),
      'data-type': t, 'data-count': n,
    }, title(`${b.label}: ${t} ${opts.fmt ? opts.fmt(n) : n}`)));
    base += n;
  }
  g.addEventListener('keydown', (ev) => { if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); opts.onPick(i, null); } });
  return g;
}

/** Press on a bar and release on the same one: pick it (or the segment pressed); on another: a range. */
function wirePointer(root, bars, band, geo, opts) {
  const n = bars.childElementCount;
  const indexAt = (ev) => {
    const box = root.getBoundingClientRect();
    const i = Math.floor((ev.clientX - box.left - MARGIN.left) / geo.bw);
    return Math.min(n - 1, Math.max(0, i));
  };
  let drag = null;
  const showBand = (a, b) => {
    const [lo, hi] = a <= b ? [a, b] : [b, a];
    band.setAttribute('x', MARGIN.left + lo * geo.bw);
    band.setAttribute('width', (hi - lo + 1) * geo.bw);
    band.setAttribute('visibility', a === b ? 'hidden' : 'visible');
  };
  root.addEventListener('pointerdown', (ev) => {
    if (ev.button !== 0 || !n) return;
    const seg = ev.target.closest('[data-type]');
    drag = { from: indexAt(ev), type: seg ? seg.dataset.type : null };
    root.setPointerCapture(ev.pointerId);
  });
  root.addEventListener('pointermove', (ev) => { if (drag) showBand(drag.from, indexAt(ev)); });
  root.addEventListener('pointerup', (ev) => {
    if (!drag) return;
    const { from, type } = drag;
    const to = indexAt(ev);
    drag = null;
    band.setAttribute('visibility', 'hidden');
    if (from === to) opts.onPick(from, type);
    else opts.onRange(Math.min(from, to), Math.max(from, to));
  });
  root.addEventListener('pointercancel', () => { drag = null; band.setAttribute('visibility', 'hidden'); });
}

/**
 * A horizontal bar `W` px wide for a table cell: `parts` [{ value, cls }] stacked left to right
 * on a track worth `max`; `label` is its title and aria-label.
 */
export function meter(parts, max, label, W = 80) {
  const H = 10;
  const root = svg('svg', { class: 'chart meter', width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': label },
    title(label), svg('rect', { class: 'track', x: 0, y: 0, width: W, height: H, rx: 2 }));
  let x = 0;
  for (const p of parts) {
    const w = max > 0 ? (p.value / max) * W : 0;
    if (w > 0) root.append(svg('rect', { class: `fill ${p.cls || ''}`, x, y: 0, width: Math.max(1, w), height: H, rx: 2 }));
    x += w;
  }
  return root;
}
