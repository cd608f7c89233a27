// How any view shows an event: the cache of events seen, the one-line summary, badges, links
// to a trace or job, a table row, a table of rows, and selecting an event (the detail pane).

import { clearError } from './api.js';
import { h } from './dom.js';
import { fmtDur, fmtNum, short, timeCell } from './format.js';
import { hrefFor, navigate, state } from './url-state.js';

export const eventCache = new Map();
export function remember(events) {
  if (eventCache.size > 50000) eventCache.clear();
  for (const e of events || []) eventCache.set(e.event_id, e);
}

export function typeBadge(type) {
  return h('span', { class: `type t-${String(type).replace(/[^a-z_]/g, '')}` }, type);
}

export function redactedBadge() {
  return h('span', { class: 'badge redacted', 'data-testid': 'redacted-badge', title: 'Secrets in this event were replaced by [REDACTED:<kind>] before it was stored' }, 'redacted');
}

export function traceLink(id, { shortForm = true } = {}) {
  if (!id) return '';
  return h('a', {
    href: hrefFor({ view: 'trace', id, event: '' }), class: 'id-link', 'data-testid': 'trace-link', 'data-id': id, title: `trace ${id}`,
    onclick: (ev) => openView(ev, 'trace', id),
  }, shortForm ? short(id) : id);
}

export function jobLink(id) {
  if (!id) return '';
  return h('a', {
    href: hrefFor({ view: 'job', id, event: '' }), class: 'id-link', 'data-testid': 'job-link', 'data-id': id, title: `job ${id}`,
    onclick: (ev) => openView(ev, 'job', id),
  }, id);
}

export function openView(ev, view, id) {
  if (ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button === 1) return; // let the browser open a tab
  ev.preventDefault();
  ev.stopPropagation();
  clearError();
  navigate({ view, id, live: state.live && view === 'events' });
}

export function selectEvent(e) {
  remember([e]);
  // Opening the pane is a history step (Back closes it); switching events replaces it.
  navigate({ event: e.event_id }, { replace: !!state.event });
}

/** Marks the open event's rows and markers under `root`. */
export function refreshSelection(root) {
  for (const r of root.querySelectorAll('[data-event-id]')) r.classList.toggle('selected', r.dataset.eventId === state.event);
}

export const pl = (e) => (e.payload && typeof e.payload === 'object' ? e.payload : {});

/** One line that says what an event was, from its payload. */
export function summary(e) {
  const p = pl(e);
  const join = (...xs) => xs.filter((x) => x !== undefined && x !== null && x !== '').join(' · ');
  switch (e.type) {
    case 'llm_inference': {
      const u = p.token_usage || {};
      return join(e.model_id, u.total !== undefined ? `${fmtNum(u.total)} tokens (${fmtNum(u.prompt)}+${fmtNum(u.completion)})` : '',
        p.latency_ms !== undefined ? fmtDur(p.latency_ms) : '', p.finish_reason, p.provider);
    }
    case 'tool_call': {
      const dur = p.timing && p.timing.duration_ms !== undefined ? fmtDur(p.timing.duration_ms) : '';
      const status = p.ok === false ? `FAILED${p.error ? ` ${p.error.code || ''} ${p.error.kind || ''}`.trimEnd() : ''}` : p.ok === true ? 'ok' : '';
      return join(`${p.tool_id || '?'}${p.tool_version ? '@' + p.tool_version : ''}`, status, p.side_effect, p.transport, dur);
    }
    case 'capability_decision':
      return join(p.decision, e.capability_id, p.resource, p.reason);
    case 'terminal_command': {
      const cmd = [p.command, ...(Array.isArray(p.args) ? p.args : [])].filter(Boolean).join(' ');
      return join(`$ ${cmd}`, p.exit_code !== undefined ? `exit ${p.exit_code}` : '', p.duration_ms !== undefined ? fmtDur(p.duration_ms) : '', p.cwd);
    }
    case 'editor_edit':
      return join(p.editor_surface, p.document_id, Array.isArray(p.ops) ? `${p.ops.length} op${p.ops.length === 1 ? '' : 's'}` : '');
    case 'diagnostic':
      return join(p.severity, p.source, p.file, p.diagnostic_id);
    case 'job_lifecycle':
      return join(p.phase, p.status, p.job_kind, p.duration_ms !== undefined ? fmtDur(p.duration_ms) : '');
    case 'workflow_recovery':
      return join(p.workflow_run_id, `${p.from_state || '?'} → ${p.to_state || '?'}`, p.reason);
    case 'span':
      return join(p.name, p.kind, p.status && p.status !== 'unset' ? p.status : '', p.status_message,
        p.duration_ms !== undefined ? fmtDur(p.duration_ms) : '');
    case 'log':
      return join(p.severity, p.body);
    case 'debug_bundle_export':
      return join(p.bundle_id, p.scope, p.redaction_mode, p.included_event_count !== undefined ? `${fmtNum(p.included_event_count)} events` : '');
    default: {
      const s = JSON.stringify(p);
      return s.length > 160 ? s.slice(0, 160) + '…' : s;
    }
  }
}

export function isFailure(e) {
  const p = pl(e);
  return (e.type === 'tool_call' && p.ok === false) || (e.type === 'job_lifecycle' && p.status === 'failed') ||
    (e.type === 'diagnostic' && (p.severity === 'error' || p.severity === 'fatal')) ||
    (e.type === 'capability_decision' && p.decision === 'deny') || e.type === 'workflow_recovery' ||
    (e.type === 'span' && p.status === 'error') ||
    (e.type === 'terminal_command' && typeof p.exit_code === 'number' && p.exit_code !== 0);
}

const ALL_COLS = ['time', 'type', 'actor', 'job', 'trace', 'summary'];
const COL_TITLE = { time: 'Time (UTC)', type: 'Type', actor: 'Actor', job: 'Job', trace: 'Trace', summary: 'Summary' };

export function eventRow(e, { cols = ALL_COLS, fresh = false } = {}) {
  const cell = {
    time: () => h('td', { class: 'c-time mono', 'data-col': 'time', title: e.timestamp }, timeCell(e.timestamp)),
    type: () => h('td', { class: 'c-type', 'data-col': 'type' }, typeBadge(e.type)),
    actor: () => h('td', { class: 'c-actor', 'data-col': 'actor' }, e.actor),
    job: () => h('td', { class: 'c-job mono', 'data-col': 'job' }, jobLink(e.job_id)),
    trace: () => h('td', { class: 'c-trace mono', 'data-col': 'trace' }, traceLink(e.trace_id)),
    summary: () => h('td', { class: 'c-summary', 'data-col': 'summary', title: summary(e) }, e.redacted ? redactedBadge() : null, summary(e)),
  };
  const cls = ['row'];
  if (state.event === e.event_id) cls.push('selected');
  if (isFailure(e)) cls.push('failure');
  if (fresh) cls.push('fresh');
  return h('tr', {
    class: cls.join(' '), tabindex: '0', 'data-testid': 'event-row', 'data-event-id': e.event_id, 'data-ts': e.timestamp,
    'data-type': e.type,
    onclick: () => selectEvent(e),
    onkeydown: (ev) => { if (ev.key === 'Enter') selectEvent(e); },
  }, cols.map((c) => cell[c]()));
}

export function eventTable(events, testid, cols = ALL_COLS) {
  return h('div', { class: 'table-wrap' },
    h('table', { class: 'events', 'data-testid': testid },
      h('thead', {}, h('tr', {}, cols.map((c) => h('th', { class: `c-${c}` }, COL_TITLE[c])))),
      h('tbody', {}, events.map((e) => eventRow(e, { cols })))));
}
