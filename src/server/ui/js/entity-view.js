// What the trace view and the job view share: loading one trace or job from the API (cached,
// with stale answers dropped), its error and refresh, and the notices above its content.

import { api, clearError, showError } from './api.js';
import { fill, h } from './dom.js';
import { fmtNum } from './format.js';
import { refreshSelection, remember } from './events.js';
import { applyFilters } from './table.js';
import { emptyFilters, state } from './url-state.js';

const views = [];
let viewReq = 0; // one counter for every view: opening one makes the others' answers stale

/**
 * A page that shows one trace or job: `kind` names it, `path` is its API collection, `el` its
 * section, and `content(data)` builds what it shows. Returns `{ load(id), refresh(id) }`.
 */
export function entityView(kind, path, el, content) {
  const cache = new Map();
  const view = { kind, path, el, content, cache };
  views.push(view);
  return { load: (id) => loadView(view, id), refresh: (id) => refreshView(view, id) };
}

/** Forgets every view's data, so the next load asks the server. */
export function invalidateViews() {
  for (const v of views) {
    v.cache.clear();
    v.el.dataset.rendered = '';
  }
}

async function loadView(view, id) {
  const { kind, el, cache } = view;
  const cached = cache.get(id);
  if (cached) {
    if (el.dataset.id !== id || el.dataset.rendered !== 'ok') renderView(view, id, cached);
    else refreshSelection(el);
    return;
  }
  const req = ++viewReq;
  el.dataset.id = id;
  el.dataset.rendered = 'loading';
  el.setAttribute('aria-busy', 'true');
  el.replaceChildren(h('p', { class: 'empty' }, `Loading ${kind} ${id}…`));
  try {
    const data = await api(`/v1/${view.path}/${encodeURIComponent(id)}`);
    if (req !== viewReq) return;
    remember(data.events);
    remember(data.lifecycle);
    if (cache.size > 20) cache.clear();
    cache.set(id, data);
    renderView(view, id, data);
  } catch (e) {
    if (req !== viewReq) return;
    el.dataset.rendered = 'error';
    fill(el,
      h('h2', {}, `${kind[0].toUpperCase()}${kind.slice(1)} `, h('span', { class: 'mono' }, id)),
      h('p', { class: 'empty' }, e.status === 404 ? `No events are recorded for this ${kind}.` : `The ${kind} could not be loaded.`),
    );
    showError(e);
  } finally {
    if (req === viewReq) el.removeAttribute('aria-busy');
  }
}

function refreshView(view, id) {
  clearError();
  view.cache.delete(id);
  loadView(view, id);
}

function renderView(view, id, data) {
  view.el.dataset.id = id;
  view.el.dataset.rendered = 'ok';
  fill(view.el, view.content(data));
}

/** "Show in event table" (filtered by `filter`, e.g. `{ job_id }`) and "Refresh". */
export function viewActions(filter, refresh) {
  return h('div', { class: 'actions' },
    h('button', { type: 'button', onclick: () => applyFilters({ ...emptyFilters(), ...filter }) }, 'Show in event table'),
    ' ',
    h('button', { type: 'button', 'data-testid': 'view-refresh', onclick: refresh }, 'Refresh'));
}

export function retentionNotice(gaps) {
  if (!gaps || !gaps.length) return null;
  const total = gaps.reduce((n, g) => n + (Number(g.events) || 0), 0);
  return h('div', { class: 'notice retention', 'data-testid': 'retention-notice', role: 'note' },
    h('strong', {}, `⚠ Evidence dropped by retention${total ? ` (${fmtNum(total)} events)` : ''}`),
    h('ul', {}, gaps.map((g) => h('li', {}, g.message ||
      `evidence missing due to retention: ${g.events} events between ${g.from || '?'} and ${g.to || '?'} were dropped`))));
}

export function truncatedNotice(truncated, what, filter) {
  if (!truncated) return null;
  return h('div', { class: 'notice truncated', 'data-testid': 'truncated-notice', role: 'note' },
    `This ${what} has more events than one view holds; only the first ones are shown. `,
    h('a', { href: '#', onclick: (ev) => { ev.preventDefault(); applyFilters({ ...state.filters, ...filter }); } },
      'Page through all of them in the event table'), '.');
}
