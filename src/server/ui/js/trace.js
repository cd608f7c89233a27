// The trace view: a timeline with one row per span (children under their parent, bars from
// start to end, a tick per event), then the trace's events.

import { byTestId, h } from './dom.js';
import { fmtDur, fmtNum, fmtTs, short, tsMs } from './format.js';
import { entityView, retentionNotice, truncatedNotice, viewActions } from './entity-view.js';
import { eventTable, isFailure, jobLink, pl, selectEvent, summary } from './events.js';
import { emptyFilters, state } from './url-state.js';

export const traceView = byTestId('trace-view');
const view = entityView('trace', 'traces', traceView, traceContent);

/** Shows trace `id` (from the cache when it is there). */
export const loadTrace = view.load;

function timeBounds(events, spans) {
  let t0 = Infinity;
  let t1 = -Infinity;
  for (const e of events) { const t = tsMs(e.timestamp); if (t < t0) t0 = t; if (t > t1) t1 = t; }
  for (const s of spans) { const a = tsMs(s.start); const b = tsMs(s.end); if (a < t0) t0 = a; if (b > t1) t1 = b; }
  if (!Number.isFinite(t0)) { t0 = 0; t1 = 1; }
  if (t1 - t0 < 1) t1 = t0 + 1;
  return [t0, t1];
}

/** Spans in tree order (each parent followed by its children), with their depth. */
function spanTree(spans) {
  const byId = new Map(spans.map((s) => [s.span_id, s]));
  const kids = new Map();
  const roots = [];
  for (const s of spans) {
    const p = s.parent_span_id;
    if (p && p !== s.span_id && byId.has(p)) {
      if (!kids.has(p)) kids.set(p, []);
      kids.get(p).push(s);
    } else roots.push(s);
  }
  const out = [];
  const seen = new Set();
  const walk = (s, depth, last) => {
    if (seen.has(s.span_id)) return;
    seen.add(s.span_id);
    out.push({ span: s, depth, last, orphanParent: s.parent_span_id && !byId.has(s.parent_span_id) ? s.parent_span_id : null });
    const c = kids.get(s.span_id) || [];
    c.forEach((k, i) => walk(k, depth + 1, i === c.length - 1));
  };
  roots.forEach((r, i) => walk(r, 0, i === roots.length - 1));
  for (const s of spans) if (!seen.has(s.span_id)) walk(s, 0, true); // cycles: show them flat
  return out;
}

/** Without the activity spans that only repeat a tool call: an OpenTelemetry `execute_tool`
 *  span is both its own activity span and the tool call's span, and one row says it. */
function withoutToolEchoes(spans, events) {
  const ids = new Set(spans.map((s) => s.span_id));
  const parents = new Set(spans.map((s) => s.parent_span_id));
  return spans.filter((s) => {
    if (s.kind !== 'activity' || s.label !== 'activity' || parents.has(s.span_id)) return true;
    const own = events.filter((e) => e.activity_span_id === s.span_id);
    return !own.length || !own.every((e) => e.type === 'tool_call' && ids.has(pl(e).tool_call_id) && pl(e).tool_call_id !== s.span_id);
  });
}

function spanEvents(span, events) {
  return events.filter((e) =>
    (span.kind === 'tool_call' && e.type === 'tool_call' && pl(e).tool_call_id === span.span_id) ||
    (span.kind === 'activity' && e.activity_span_id === span.span_id) ||
    (span.kind === 'session' && e.session_span_id === span.span_id));
}

function marker(e, pct) {
  return h('button', {
    type: 'button', class: `marker t-${e.type}${state.event === e.event_id ? ' selected' : ''}${isFailure(e) ? ' failure' : ''}`,
    style: { left: `${pct(tsMs(e.timestamp))}%` }, 'data-testid': 'event-marker', 'data-event-id': e.event_id,
    title: `${e.type} · ${fmtTs(e.timestamp)}\n${summary(e)}`, 'aria-label': `${e.type} at ${fmtTs(e.timestamp)}`,
    onclick: (ev) => { ev.stopPropagation(); selectEvent(e); },
  });
}

function traceHeader(v, t0, t1) {
  const events = v.events || [];
  const spans = v.spans || [];
  return h('div', { class: 'view-head' },
    h('h2', {}, 'Trace ', h('span', { class: 'mono', 'data-testid': 'trace-id' }, v.trace_id)),
    h('div', { class: 'meta' },
      `${fmtNum(events.length)} event${events.length === 1 ? '' : 's'} · ${fmtNum(spans.length)} span${spans.length === 1 ? '' : 's'}`,
      events.length ? ` · ${fmtTs(events[0].timestamp)} → ${fmtTs(events[events.length - 1].timestamp)} (${fmtDur(t1 - t0)})` : ''),
    h('div', { class: 'meta' }, 'Jobs: ',
      (v.jobs || []).length ? (v.jobs || []).map((j, i) => [i ? ', ' : '', jobLink(j)]) : h('span', { class: 'muted' }, 'none')),
    viewActions({ trace_id: v.trace_id }, () => view.refresh(v.trace_id)));
}

function spanRow({ span: s, depth, last, orphanParent }, events, pct) {
  const own = spanEvents(s, events);
  const toolEvent = s.kind === 'tool_call' ? own[0] : null;
  const failed = !!toolEvent && isFailure(toolEvent);
  const a = tsMs(s.start);
  const b = tsMs(s.end);
  const left = pct(a);
  const width = Math.max(pct(b) - left, 0);
  const target = toolEvent || own[0];
  return h('div', {
    class: `tl-row span-row kind-${s.kind}${failed ? ' failure' : ''}`, 'data-testid': 'span-row', 'data-kind': s.kind,
    'data-span-id': s.span_id, 'data-parent-span-id': s.parent_span_id || null, 'data-depth': String(depth),
    title: `${s.kind} ${s.span_id}${s.parent_span_id ? `\nparent ${s.parent_span_id}` : ''}\n${fmtTs(s.start)} → ${fmtTs(s.end)} (${fmtDur(b - a)})\n${s.events} event${s.events === 1 ? '' : 's'}`,
    onclick: () => { if (target) selectEvent(target); },
  },
  h('div', { class: 'tl-label', style: { paddingLeft: `${0.4 + depth * 1.1}rem` } },
    depth ? h('span', { class: 'connector', 'aria-hidden': 'true' }, last ? '└─' : '├─') : null,
    h('span', { class: `kind k-${s.kind}` }, s.kind),
    s.label && s.label !== s.kind ? [' ', h('span', { class: 'span-label' }, s.label)] : null,
    ' ',
    h('span', { class: 'mono muted span-id' }, short(s.span_id, 18)),
    orphanParent ? h('span', { class: 'muted orphan', title: `parent span ${orphanParent} has no event in this trace` }, ` ↑ ${short(orphanParent, 18)}`) : null,
    h('span', { class: 'muted dur' }, ` ${fmtDur(b - a)}`)),
  h('div', { class: 'tl-track' },
    h('div', { class: `bar k-${s.kind}${failed ? ' failure' : ''}`, style: { left: `${left}%`, width: `${width}%` } }),
    own.map((e) => marker(e, pct))));
}

function timeline(events, spans, t0, t1) {
  const pct = (t) => ((t - t0) / (t1 - t0)) * 100;
  const firstTs = events.length ? events[0].timestamp : spans.length ? spans[0].start : null;

  const axis = h('div', { class: 'tl-row tl-axis' },
    h('div', { class: 'tl-label muted' }, firstTs ? fmtTs(firstTs) : ''),
    h('div', { class: 'tl-track' }, [0, 25, 50, 75, 100].map((p) =>
      h('span', { class: `tick${p === 0 ? ' first' : p === 100 ? ' last' : ''}`, style: { left: `${p}%` } }, `+${fmtDur(((t1 - t0) * p) / 100)}`))));

  const allRow = h('div', { class: 'tl-row tl-events', 'data-testid': 'timeline-events' },
    h('div', { class: 'tl-label' }, h('span', { class: 'kind' }, 'events'), ` ${fmtNum(events.length)}`),
    h('div', { class: 'tl-track' }, events.map((e) => marker(e, pct))));

  const spanRows = spanTree(withoutToolEchoes(spans, events)).map((node) => spanRow(node, events, pct));

  return h('div', { class: 'timeline', 'data-testid': 'trace-timeline' }, axis, allRow,
    spanRows.length ? spanRows : h('div', { class: 'tl-row' }, h('div', { class: 'tl-label muted' }, 'no spans'), h('div', { class: 'tl-track' })));
}

function traceContent(v) {
  const events = v.events || [];
  const spans = v.spans || [];
  const [t0, t1] = timeBounds(events, spans);
  return [
    traceHeader(v, t0, t1),
    retentionNotice(v.retention_gaps),
    truncatedNotice(v.truncated, 'trace', { ...emptyFilters(), trace_id: v.trace_id }),
    h('h3', {}, 'Timeline'),
    timeline(events, spans, t0, t1),
    h('p', { class: 'legend muted' }, 'One row per span (children indented under their parent); bars run from start to end, ticks are events. Click a tick or a span for the event.'),
    h('h3', {}, `Events (${fmtNum(events.length)})`),
    events.length ? eventTable(events, 'trace-events', ['time', 'type', 'actor', 'job', 'summary']) : h('p', { class: 'empty' }, 'No surviving events.'),
  ];
}
