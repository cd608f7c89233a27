// The filter bar and the paged event table (newest first unless the person chose oldest first;
// one page per cursor). The live tail shows its rows in the same table through `showLiveRows`.

import { api, apiParams, clearError, showError } from './api.js';
import { byTestId, h } from './dom.js';
import { isoSeconds, normTime, short } from './format.js';
import { eventRow, refreshSelection, remember } from './events.js';
import { DEFAULT_LIMIT, DEFAULT_ORDER, FILTER_KEYS, emptyFilters, navigate, state } from './url-state.js';

const RANGES = { '15m': 15 * 60e3, '1h': 3600e3, '24h': 86400e3, '7d': 7 * 86400e3 };

// ---------------------------------------------------------------- filter bar

const form = byTestId('filter-bar');

/** Shows the filters `f` in the filter bar. */
export function syncForm(f) {
  for (const k of FILTER_KEYS) {
    const el = form.elements[k];
    if (!el) continue;
    if (el.tagName === 'SELECT' && f[k] && ![...el.options].some((o) => (o.value || o.text) === f[k])) {
      el.append(h('option', { value: f[k] }, f[k])); // keep an unknown value visible; the server will judge it
    }
    el.value = f[k] || { range: 'all', limit: DEFAULT_LIMIT, order: DEFAULT_ORDER }[k] || '';
  }
}

function readForm() {
  const f = {};
  for (const k of FILTER_KEYS) f[k] = (form.elements[k].value || '').trim();
  return f;
}

/** Filters the jobs list does not take: with one of them set, Apply shows the event table. */
const EVENT_ONLY_KEYS = ['job_id', 'trace_id', 'model_id', 'tool_id', 'type', 'actor', 'text'];

/**
 * Opens the event table on its first page under the filters `f`, asking the server again (or
 * keeps the jobs list open when it is and `f` only changes the time range).
 */
export function applyFilters(f) {
  clearError();
  pageStack = [];
  forceReload = true; // Apply with unchanged filters still asks the server again
  const view = state.view === 'jobs' && EVENT_ONLY_KEYS.every((k) => !f[k]) ? 'jobs' : 'events';
  navigate({ filters: f, cursor: '', page: 1, view, id: '' });
}

form.addEventListener('submit', (ev) => {
  ev.preventDefault();
  applyFilters(readForm());
});

form.elements.range.addEventListener('change', () => {
  const r = form.elements.range.value;
  if (RANGES[r]) {
    form.elements.from.value = isoSeconds(Date.now() - RANGES[r]);
    form.elements.to.value = '';
  } else if (r === 'all') {
    form.elements.from.value = '';
    form.elements.to.value = '';
  }
  if (r === 'custom') form.elements.from.focus();
  else applyFilters(readForm());
});

for (const k of ['from', 'to']) {
  form.elements[k].addEventListener('input', () => { form.elements.range.value = 'custom'; });
}
for (const k of ['type', 'actor', 'limit', 'order']) {
  form.elements[k].addEventListener('change', () => applyFilters(readForm()));
}

byTestId('filter-reset').addEventListener('click', () => {
  applyFilters({ ...emptyFilters(), limit: DEFAULT_LIMIT });
});

// ---------------------------------------------------------------- event table (paged)

export const eventsView = byTestId('events-view');
const tbody = byTestId('event-table').querySelector('tbody');
const tableWrap = byTestId('event-table').parentElement;
const pager = document.querySelector('.pager');
const caption = byTestId('table-caption');
const emptyEl = byTestId('table-empty');
const nextBtn = byTestId('next-page');
const prevBtn = byTestId('prev-page');
const firstBtn = byTestId('first-page');

let pageStack = []; // cursors of the pages before this one ('' is the first page)
let loaded = { key: null, events: [], next: null };
let eventsReq = 0;
let tableShows = ''; // 'page' or 'live': what the table's rows are now
let forceReload = false;
let liveRenderer = null; // while the live tail runs, it draws the table instead of the pages

/** Hands the table to the live tail (`render`) or back to the pages (null). */
export function setLiveRenderer(render) {
  liveRenderer = render;
}

/** Whether the next load must ask the server even for the page it holds; resets the flag. */
export function takeForceReload() {
  const force = forceReload;
  forceReload = false;
  return force;
}

/** Forgets the page held, so the next load asks the server. */
export function invalidateTable() {
  loaded.key = null;
}

function tableKey() {
  return apiParams(state.filters, { cursor: state.cursor }).toString();
}

export async function loadEvents(force = false) {
  const key = tableKey();
  if (!force && loaded.key === key) {
    if (tableShows === 'page') refreshSelection(eventsView);
    else renderTable();
    return;
  }
  const req = ++eventsReq;
  caption.textContent = 'Loading…';
  eventsView.setAttribute('aria-busy', 'true');
  try {
    const page = await api(`/v1/events?${key}`);
    if (req !== eventsReq) return;
    remember(page.events);
    loaded = { key, events: page.events || [], next: page.next_cursor || null };
  } catch (e) {
    if (req !== eventsReq) return;
    loaded = { key: null, events: [], next: null };
    showError(e);
  } finally {
    if (req === eventsReq) eventsView.removeAttribute('aria-busy');
  }
  renderTable();
}

export function describeFilters(f) {
  const parts = [];
  if (f.job_id) parts.push(`job ${f.job_id}`);
  if (f.model_id) parts.push(`model ${f.model_id}`);
  if (f.tool_id) parts.push(`tool ${f.tool_id}`);
  if (f.trace_id) parts.push(`trace ${short(f.trace_id, 13)}`);
  if (f.type) parts.push(f.type);
  if (f.actor) parts.push(`actor ${f.actor}`);
  if (f.text) parts.push(`ids containing “${f.text}”`);
  if (f.from) parts.push(`from ${normTime(f.from)}`);
  if (f.to) parts.push(`to ${normTime(f.to)}`);
  return parts.length ? parts.join(', ') : 'all events';
}

export const orderText = () => (state.filters.order === 'asc' ? 'oldest first' : 'newest first');

function renderTable() {
  if (liveRenderer) return liveRenderer();
  const rows = loaded.events;
  tableShows = 'page';
  tbody.replaceChildren(...rows.map((e) => eventRow(e)));
  const pageNo = state.cursor ? state.page : 1;
  caption.textContent = rows.length
    ? `${describeFilters(state.filters)} · page ${pageNo} · ${rows.length} event${rows.length === 1 ? '' : 's'}, ${orderText()}${loaded.next ? '' : ' · last page'}`
    : `${describeFilters(state.filters)} · page ${pageNo}`;
  emptyEl.hidden = rows.length > 0 || loaded.key === null;
  emptyEl.textContent = state.cursor ? 'No more events.' : 'No events match these filters.';
  tableWrap.hidden = rows.length === 0;
  pager.hidden = false;
  nextBtn.disabled = !loaded.next;
  prevBtn.disabled = !state.cursor;
  firstBtn.disabled = !state.cursor;
}

/** The live tail's rows in the table: newest first, no pager. */
export function showLiveRows(rows, isFresh, captionText, emptyText) {
  tableShows = 'live';
  tbody.replaceChildren(...rows.map((e) => eventRow(e, { fresh: isFresh(e) })));
  caption.textContent = captionText;
  emptyEl.hidden = rows.length > 0;
  emptyEl.textContent = emptyText;
  tableWrap.hidden = rows.length === 0;
  pager.hidden = true;
}

nextBtn.addEventListener('click', () => {
  if (!loaded.next) return;
  pageStack.push(state.cursor);
  navigate({ cursor: loaded.next, page: (state.cursor ? state.page : 1) + 1 });
});
prevBtn.addEventListener('click', () => {
  if (!state.cursor) return;
  if (pageStack.length) {
    const c = pageStack.pop();
    navigate({ cursor: c, page: Math.max(1, state.page - 1) });
  } else history.back();
});
firstBtn.addEventListener('click', () => {
  pageStack = [];
  navigate({ cursor: '', page: 1 });
});
