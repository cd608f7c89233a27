// The overview above the event table, from GET /v1/summary over the selected range (and job or
// trace filter): a volume histogram by type (click a bar or a segment to filter the table,
// drag across bars to zoom), tokens and latency per model, failures per tool, denied
// capabilities, failed and slowest jobs. Every item links into the filtered table or a job.

import { api, askToken } from './api.js';
import { meter, stackedBars } from './chart.js';
import { byTestId, fill, h } from './dom.js';
import { jobLink, typeBadge } from './events.js';
import { fmtCompact, fmtDur, fmtNum, isoSeconds, tsMs } from './format.js';
import { describeRange, rangeParams, summaryRange } from './range.js';
import { applyFilters } from './table.js';
import { hrefFor, navigate, state } from './url-state.js';

export const overviewEl = byTestId('overview');
const CHART_HEIGHT = 120;
const JOBS_SHOWN = 5; // per list; the jobs list has the rest
let shown = { key: null, summary: null, query: '', marks: '' };
let overviewReq = 0;

/** What the summary depends on: the range and the filters /v1/summary takes. */
const overviewKey = (f) => ['range', 'from', 'to', 'job_id', 'trace_id'].map((k) => f[k]).join('\u0001');

/** Shows the overview for the filters in the URL (asks the server when they changed or `force`). */
export async function loadOverview(force = false) {
  const key = overviewKey(state.filters);
  if (!force && shown.key === key) {
    // A request still under way is for another range (Back before it answered): drop it, or
    // its answer would replace the overview of the range in the URL.
    overviewReq += 1;
    overviewEl.removeAttribute('aria-busy');
    // Redrawn only when the table's type or model filter, which the charts mark, changed: a
    // redraw under the pointer would cut a drag short.
    if (shown.marks !== marksKey()) render();
    return;
  }
  const req = ++overviewReq;
  overviewEl.setAttribute('aria-busy', 'true');
  try {
    const range = await summaryRange(state.filters);
    const query = rangeParams(range, state.filters, ['job_id', 'trace_id']).toString();
    const summary = await api(`/v1/summary?${query}`);
    if (req !== overviewReq) return;
    shown = { key, summary, query, marks: '' };
    render();
  } catch (e) {
    if (req !== overviewReq) return;
    shown = { key: null, summary: null, query: '', marks: '' };
    if (e.code === 'HSK-401-UNAUTHORIZED') askToken();
    // The table shows the same filter's error in the banner; here a line is enough.
    fill(overviewEl, h('p', { class: 'empty', 'data-testid': 'overview-error' }, `No overview: ${e.code || 'ERROR'}: ${e.message}`));
  } finally {
    if (req === overviewReq) overviewEl.removeAttribute('aria-busy');
  }
}

/** Forgets the summary shown, so the next load asks the server. */
export function invalidateOverview() {
  shown.key = null;
}

const marksKey = () => `${state.filters.type}\u0001${state.filters.model_id}`;

function render() {
  const s = shown.summary;
  if (!s) return;
  shown.marks = marksKey();
  overviewEl.dataset.query = shown.query;
  fill(overviewEl,
    histogramCard(s),
    gapsNotice(s.gaps),
    h('div', { class: 'cards' }, modelsCard(s.models || []), toolsCard(s.tools || []), capabilitiesCard(s.capabilities || []), jobsCard(s)));
}

let resizeTimer = null;
window.addEventListener('resize', () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => { if (overviewEl.offsetParent) render(); }, 150);
});

// ---------------------------------------------------------------- links

/** Opens the event table under the filters in use changed by `changes`, on its first page. */
const filterTable = (changes) => applyFilters({ ...state.filters, ...changes });

/** A link to the event table filtered by `changes` (a plain link for a new tab). */
function filterLink(label, changes, attrs = {}) {
  return h('a', {
    ...attrs,
    href: hrefFor({ filters: { ...state.filters, ...changes }, view: 'events', id: '', cursor: '', page: 1, event: '' }),
    onclick: (ev) => {
      ev.stopPropagation();
      if (ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button === 1) return;
      ev.preventDefault();
      filterTable(changes);
    },
  }, label);
}

/** A table row that opens the filtered event table when clicked or on Enter. */
function linkRow(testid, data, changes, cells, cls = '') {
  const go = () => filterTable(changes);
  return h('tr', { class: `row ${cls}`, tabindex: '0', 'data-testid': testid, ...data, onclick: go, onkeydown: (ev) => { if (ev.key === 'Enter') go(); } }, cells);
}

const rangeOf = (from, to) => ({ range: 'custom', from, to });

// ---------------------------------------------------------------- histogram

/** A tick label: the date only where the range spans days, seconds only for short buckets. */
function tick(ms, stepMs, spanMs) {
  const iso = new Date(ms).toISOString();
  if (spanMs > 2 * 86400e3) return `${iso.slice(5, 10)} ${iso.slice(11, 16)}`;
  return stepMs < 60e3 ? iso.slice(11, 19) : iso.slice(11, 16);
}

function histogramCard(s) {
  const stepMs = s.bucket_seconds * 1000;
  const spanMs = tsMs(s.to) - tsMs(s.from);
  const buckets = (s.buckets || []).map((b) => {
    const start = tsMs(b.start);
    const from = isoSeconds(start);
    const to = isoSeconds(start + stepMs);
    return { from, to, counts: b.counts || {}, label: `${from.slice(0, 19).replace('T', ' ')} – ${to.slice(11, 19)} UTC`, tick: tick(start, stepMs, spanMs) };
  });
  const types = s.types || [];
  const width = Math.max(320, (overviewEl.clientWidth || 960) - 26);
  const chart = stackedBars({
    buckets, types, width, height: CHART_HEIGHT, fmt: fmtNum,
    label: `Events per ${fmtDur(stepMs)} by type, ${describeRange(s)}; click a bar to show its events, drag across bars to zoom`,
    dimType: (t) => !!state.filters.type && state.filters.type !== t,
    onPick: (i, type) => filterTable({ ...rangeOf(buckets[i].from, buckets[i].to), ...(type ? { type } : {}) }),
    onRange: (i, j) => filterTable(rangeOf(buckets[i].from, buckets[j].to)),
  });
  const totals = Object.fromEntries(types.map((t) => [t, buckets.reduce((n, b) => n + (b.counts[t] || 0), 0)]));
  return h('div', { class: 'card wide' },
    h('div', { class: 'card-head' },
      h('h3', {}, 'Events over time'),
      h('span', { class: 'muted', 'data-testid': 'overview-range' },
        `${fmtNum(s.total_events)} events${scopeText()} · ${describeRange(s)} · one bar = ${fmtDur(stepMs)}`),
      h('button', { type: 'button', class: 'small', 'data-testid': 'zoom-out', title: 'Show a range four times as long around this one', onclick: () => zoomOut(s) }, 'Zoom out')),
    h('div', { class: 'legend' }, types.map((t) => filterLink([typeBadge(t), ` ${fmtNum(totals[t])}`], { type: t }, {
      class: `legend-item${state.filters.type === t ? ' active' : ''}`, 'data-testid': 'legend-type', 'data-type': t, title: `Show only ${t} events`,
    }))),
    chart,
    h('p', { class: 'hint muted' }, 'Click a bar (or one type’s part of it) to show those events below; drag across bars to zoom in; Back undoes.'));
}

/** The filters the summary applied besides the range (it takes no other). */
function scopeText() {
  const f = state.filters;
  return `${f.job_id ? ` of job ${f.job_id}` : ''}${f.trace_id ? ` of trace ${f.trace_id}` : ''}`;
}

function zoomOut(s) {
  const from = tsMs(s.from);
  const to = tsMs(s.to);
  const span = to - from;
  const end = Math.min(Date.now(), to + 1.5 * span);
  filterTable(rangeOf(isoSeconds(Math.max(0, end - 4 * span)), isoSeconds(end)));
}

function gapsNotice(gaps) {
  if (!gaps || !gaps.length) return null;
  return h('div', { class: 'notice retention', 'data-testid': 'overview-gaps', role: 'note' },
    h('strong', {}, '⚠ Evidence dropped by retention in this range'),
    h('ul', {}, gaps.map((g) => h('li', {},
      `${g.events ? `${fmtNum(g.events)} events in ` : ''}${fmtNum(g.segments)} segment${g.segments === 1 ? '' : 's'} between ${g.from} and ${g.to}`))));
}

// ---------------------------------------------------------------- cards

function card(name, testid, head, rows, empty) {
  return h('div', { class: 'card', 'data-testid': testid },
    h('h3', {}, name),
    rows.length
      ? h('table', { class: 'mini' }, h('thead', {}, h('tr', {}, head.map((t) => h('th', {}, t)))), h('tbody', {}, rows))
      : h('p', { class: 'empty' }, empty));
}

const ms = (v) => (v === null || v === undefined ? '—' : fmtDur(v));
const pct = (n, d) => (d ? `${((100 * n) / d).toFixed(n && n < d / 100 ? 2 : 1)} %` : '—');

function modelsCard(models) {
  const max = Math.max(0, ...models.map((m) => m.prompt_tokens + m.completion_tokens));
  return card('Models', 'overview-models', ['Model', 'Calls', 'Tokens', 'p50', 'p95'], models.map((m) => {
    const total = m.prompt_tokens + m.completion_tokens;
    const changes = { model_id: m.model_id, type: 'llm_inference' };
    return linkRow('model-row', { 'data-model-id': m.model_id }, changes, [
      h('td', { class: 'mono' }, filterLink(m.model_id, changes, { title: `Show the llm_inference events of ${m.model_id}` })),
      h('td', { class: 'num' }, fmtNum(m.calls)),
      h('td', { class: 'meter-cell', title: `${fmtNum(total)} tokens` }, meter([{ value: m.prompt_tokens, cls: 'prompt' }, { value: m.completion_tokens, cls: 'completion' }], max,
        `${m.model_id}: ${fmtNum(m.prompt_tokens)} prompt + ${fmtNum(m.completion_tokens)} completion tokens`), ` ${fmtCompact(total)}`),
      h('td', { class: 'num', title: 'latency, median' }, ms(m.latency_ms_p50)),
      h('td', { class: 'num', title: 'latency, 95th percentile' }, ms(m.latency_ms_p95)),
    ], state.filters.model_id === m.model_id ? 'active' : '');
  }), 'No model calls in this range.');
}

function toolsCard(tools) {
  return card('Tools', 'overview-tools', ['Tool', 'Calls', 'Failed', '', 'p50', 'p95'], tools.map((t) => {
    const changes = { type: 'tool_call', tool_id: t.tool_id };
    return linkRow('tool-row', { 'data-tool-id': t.tool_id }, changes, [
      h('td', { class: 'mono' }, filterLink(t.tool_id, changes, { title: `Show the tool_call events of ${t.tool_id}` })),
      h('td', { class: 'num' }, fmtNum(t.calls)),
      h('td', { class: `num${t.failures ? ' fail' : ''}` }, `${fmtNum(t.failures)} (${pct(t.failures, t.calls)})`),
      h('td', { class: 'meter-cell' }, meter([{ value: t.failures, cls: 'fail' }, { value: t.calls - t.failures, cls: 'ok' }], t.calls,
        `${t.tool_id}: ${fmtNum(t.failures)} of ${fmtNum(t.calls)} calls failed (${pct(t.failures, t.calls)})`, 50)),
      h('td', { class: 'num', title: 'duration, median' }, ms(t.duration_ms_p50)),
      h('td', { class: 'num', title: 'duration, 95th percentile' }, ms(t.duration_ms_p95)),
    ], t.failures ? 'failure' : '');
  }), 'No tool calls in this range.');
}

function capabilitiesCard(caps) {
  return card('Capabilities', 'overview-capabilities', ['Capability', 'Denied', 'Allowed', ''], caps.map((c) => {
    const changes = { type: 'capability_decision', text: c.capability_id };
    return linkRow('capability-row', { 'data-capability-id': c.capability_id }, changes, [
      h('td', { class: 'mono' }, filterLink(c.capability_id, changes, { title: `Show the decisions on ${c.capability_id}` })),
      h('td', { class: `num${c.deny ? ' fail' : ''}` }, fmtNum(c.deny)),
      h('td', { class: 'num' }, fmtNum(c.allow)),
      h('td', { class: 'meter-cell' }, meter([{ value: c.deny, cls: 'fail' }, { value: c.allow, cls: 'ok' }], c.deny + c.allow,
        `${c.capability_id}: ${fmtNum(c.deny)} denied, ${fmtNum(c.allow)} allowed`, 50)),
    ], c.deny ? 'failure' : '');
  }), 'No capability decisions in this range.');
}

function jobsLink(label, status, cls = '') {
  const changes = { view: 'jobs', id: '', status, event: '', cursor: '', page: 1 };
  return h('a', {
    href: hrefFor(changes), class: cls, 'data-testid': `jobs-${status || 'all'}-link`, title: `The jobs list${status ? `, ${status} only` : ''}`,
    onclick: (ev) => {
      if (ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button === 1) return;
      ev.preventDefault();
      navigate(changes);
    },
  }, label);
}

function jobRow(j, testid, max) {
  return h('tr', { 'data-testid': testid, 'data-job-id': j.job_id, class: j.status === 'failed' ? 'failure' : '' },
    h('td', { class: 'mono' }, jobLink(j.job_id)),
    h('td', {}, h('span', { class: `status s-${j.status}` }, j.status)),
    h('td', { class: 'num' }, ms(j.duration_ms)),
    max ? h('td', { class: 'meter-cell' }, meter([{ value: j.duration_ms || 0, cls: j.status === 'failed' ? 'fail' : 'ok' }], max, `${j.job_id}: ${ms(j.duration_ms)}`, 40)) : null);
}

function jobsCard(s) {
  const c = s.jobs || { started: 0, ok: 0, failed: 0, cancelled: 0 };
  const failed = (s.failed_jobs || []).slice(0, JOBS_SHOWN);
  const slowest = (s.slowest_jobs || []).slice(0, JOBS_SHOWN);
  const max = Math.max(0, ...slowest.map((j) => j.duration_ms || 0));
  const table = (rows, testid, empty, m) => (rows.length
    ? h('table', { class: 'mini', 'data-testid': testid }, h('tbody', {}, rows.map((j) => jobRow(j, `${testid}-row`, m))))
    : h('p', { class: 'empty' }, empty));
  return h('div', { class: 'card', 'data-testid': 'overview-jobs' },
    h('h3', {}, 'Jobs'),
    h('p', { class: 'job-counts' },
      jobsLink(`${fmtNum(c.started)} started`, ''), ' · ', jobsLink(`${fmtNum(c.ok)} ok`, 'ok', 's-ok'), ' · ',
      jobsLink(`${fmtNum(c.failed)} failed`, 'failed', 's-failed'), ' · ', jobsLink(`${fmtNum(c.cancelled)} cancelled`, 'cancelled', 's-cancelled')),
    h('div', { class: 'job-lists' },
      h('div', {}, h('h4', {}, 'Failed ', jobsLink('(all failed jobs)', 'failed', 'more')), table(failed, 'failed-jobs', 'No job failed in this range.', 0)),
      h('div', {}, h('h4', {}, 'Slowest'), table(slowest, 'slowest-jobs', 'No finished job in this range.', max))));
}
