// The job view: its status, its job_lifecycle events, its traces and its events.

import { byTestId, h } from './dom.js';
import { fmtDur, fmtNum, fmtTs, timeCell, tsMs } from './format.js';
import { entityView, retentionNotice, truncatedNotice, viewActions } from './entity-view.js';
import { eventTable, isFailure, pl, selectEvent, traceLink, typeBadge } from './events.js';
import { emptyFilters, state } from './url-state.js';

export const jobView = byTestId('job-view');
const view = entityView('job', 'jobs', jobView, jobContent);

/** Shows job `id` (from the cache when it is there). */
export const loadJob = view.load;

/** Per trace of the job: how many of its events, the first, their types, any failure. */
function tracesOf(events) {
  const perTrace = new Map();
  for (const e of events) {
    const t = perTrace.get(e.trace_id) || { n: 0, first: e.timestamp, last: e.timestamp, types: new Set(), failed: false };
    t.n += 1;
    t.last = e.timestamp;
    t.types.add(e.type);
    t.failed = t.failed || isFailure(e);
    perTrace.set(e.trace_id, t);
  }
  return perTrace;
}

function jobHeader(v, events, traces, status) {
  return h('div', { class: 'view-head' },
    h('h2', {}, 'Job ', h('span', { class: 'mono', 'data-testid': 'job-id' }, v.job_id), ' ',
      h('span', { class: `status s-${status}`, 'data-testid': 'job-status' }, status)),
    h('div', { class: 'meta' },
      `${fmtNum(events.length)} event${events.length === 1 ? '' : 's'} · ${fmtNum(traces.length)} trace${traces.length === 1 ? '' : 's'}`,
      events.length ? ` · ${fmtTs(events[0].timestamp)} → ${fmtTs(events[events.length - 1].timestamp)} (${fmtDur(tsMs(events[events.length - 1].timestamp) - tsMs(events[0].timestamp))})` : ''),
    viewActions({ job_id: v.job_id }, () => view.refresh(v.job_id)));
}

function lifecycleTable(lifecycle) {
  if (!lifecycle.length) return h('p', { class: 'empty' }, 'No job_lifecycle events survive for this job.');
  return h('div', { class: 'table-wrap' }, h('table', { class: 'events lifecycle', 'data-testid': 'job-lifecycle' },
    h('thead', {}, h('tr', {}, ['Time (UTC)', 'Phase', 'Status', 'Kind', 'Duration'].map((t) => h('th', {}, t)))),
    h('tbody', {}, lifecycle.map((e) => {
      const p = pl(e);
      return h('tr', {
        class: `row${state.event === e.event_id ? ' selected' : ''}${isFailure(e) ? ' failure' : ''}`, tabindex: '0', 'data-event-id': e.event_id,
        onclick: () => selectEvent(e), onkeydown: (ev) => { if (ev.key === 'Enter') selectEvent(e); },
      },
      h('td', { class: 'mono c-time', title: e.timestamp }, timeCell(e.timestamp)),
      h('td', {}, p.phase || ''),
      h('td', {}, p.status ? h('span', { class: `status s-${p.status}` }, p.status) : ''),
      h('td', {}, p.job_kind || ''),
      h('td', {}, p.duration_ms !== undefined ? fmtDur(p.duration_ms) : ''));
    }))));
}

function traceList(traces, perTrace) {
  if (!traces.length) return h('p', { class: 'empty' }, 'No traces.');
  return h('div', { class: 'table-wrap' }, h('table', { class: 'events traces', 'data-testid': 'job-traces' },
    h('thead', {}, h('tr', {}, ['Trace', 'First event (UTC)', 'Events', 'Types'].map((t) => h('th', {}, t)))),
    h('tbody', {}, traces.map((id) => {
      const t = perTrace.get(id);
      return h('tr', { class: t && t.failed ? 'failure' : '' },
        h('td', { class: 'mono' }, traceLink(id, { shortForm: false })),
        h('td', { class: 'mono c-time' }, t ? timeCell(t.first) : ''),
        h('td', {}, t ? fmtNum(t.n) : h('span', { class: 'muted', title: 'no surviving event of this trace is in this view' }, '—')),
        h('td', {}, t ? [...t.types].map((ty) => typeBadge(ty)) : ''));
    }))));
}

function jobContent(v) {
  const events = v.events || [];
  const status = v.status || 'unknown';
  const perTrace = tracesOf(events);
  const traces = v.traces || [...perTrace.keys()];
  return [
    jobHeader(v, events, traces, status),
    retentionNotice(v.retention_gaps),
    truncatedNotice(v.truncated, 'job', { ...emptyFilters(), job_id: v.job_id }),
    h('h3', {}, 'Lifecycle'),
    lifecycleTable(v.lifecycle || []),
    h('h3', {}, `Traces (${fmtNum(traces.length)})`),
    traceList(traces, perTrace),
    h('h3', {}, `Events (${fmtNum(events.length)})`),
    events.length ? eventTable(events, 'job-events', ['time', 'type', 'actor', 'trace', 'summary']) : h('p', { class: 'empty' }, 'No surviving events.'),
  ];
}
