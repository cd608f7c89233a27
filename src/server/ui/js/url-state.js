// URL state: everything a shared link restores lives in the hash (filters, sort order, page,
// open view and event). `state` is the parsed hash; `navigate` changes the hash and runs the
// router. Defaults (newest first, 100 rows, all time) are left out of the hash.

export const FILTER_KEYS = ['job_id', 'trace_id', 'model_id', 'tool_id', 'type', 'actor', 'text', 'range', 'from', 'to', 'limit', 'order'];
export const DEFAULT_LIMIT = '100';
export const DEFAULT_ORDER = 'desc';
/** Views that show one trace or job (they need an id), and those that stand alone. */
const ID_VIEWS = ['trace', 'job'];
const VIEWS = ['events', 'jobs', ...ID_VIEWS];
export const JOB_STATUSES = ['ok', 'failed', 'cancelled', 'running'];

function parseHash() {
  const p = new URLSearchParams(location.hash.replace(/^#/, ''));
  const filters = {};
  for (const k of FILTER_KEYS) filters[k] = p.get(k) || '';
  if (!filters.range) filters.range = filters.from || filters.to ? 'custom' : 'all';
  if (!filters.limit) filters.limit = DEFAULT_LIMIT;
  if (filters.order !== 'asc') filters.order = DEFAULT_ORDER;
  let view = p.get('view') || 'events';
  if (!VIEWS.includes(view)) view = 'events';
  const id = p.get('id') || '';
  if (ID_VIEWS.includes(view) && !id) view = 'events';
  const status = p.get('status') || '';
  return {
    filters,
    cursor: p.get('cursor') || '',
    page: Math.max(1, parseInt(p.get('page') || '1', 10) || 1),
    view,
    id: ID_VIEWS.includes(view) ? id : '',
    status: view === 'jobs' && JOB_STATUSES.includes(status) ? status : '',
    event: p.get('event') || '',
    live: p.get('live') === '1',
  };
}

function buildHash(s) {
  const p = new URLSearchParams();
  for (const k of FILTER_KEYS) {
    const v = s.filters[k];
    if (!v) continue;
    if (k === 'range' && v === 'all') continue;
    if (k === 'limit' && v === DEFAULT_LIMIT) continue;
    if (k === 'order' && v === DEFAULT_ORDER) continue;
    p.set(k, v);
  }
  if (s.cursor) {
    p.set('cursor', s.cursor);
    p.set('page', String(s.page));
  }
  if (ID_VIEWS.includes(s.view) && s.id) {
    p.set('view', s.view);
    p.set('id', s.id);
  } else if (s.view === 'jobs') {
    p.set('view', 'jobs');
    if (s.status) p.set('status', s.status);
  }
  if (s.event) p.set('event', s.event);
  if (s.live) p.set('live', '1');
  return p.toString();
}

/** The state the page shows; re-read from the hash by `readState` (the router does it). */
export let state = parseHash();

export function readState() {
  state = parseHash();
}

/** The event id open in the hash right now (it can change while a view loads). */
export const hashEvent = () => parseHash().event;

let router = () => {};

/** Sets what runs after every navigation (the entry module's `route`). */
export function setRouter(fn) {
  router = fn;
}

export function hrefFor(changes) {
  const h2 = buildHash({ ...state, ...changes });
  return h2 ? `#${h2}` : '#';
}

export function navigate(changes, { replace = false } = {}) {
  const next = { ...state, ...changes };
  const hash = buildHash(next);
  const url = location.pathname + location.search + (hash ? `#${hash}` : '');
  if (replace) history.replaceState(null, '', url);
  else if (url !== location.pathname + location.search + location.hash) history.pushState(null, '', url);
  router();
}

/** No filter but the page size and the order in use. */
export function emptyFilters() {
  return {
    job_id: '', trace_id: '', model_id: '', tool_id: '', type: '', actor: '', text: '', range: 'all', from: '', to: '',
    limit: state.filters.limit || DEFAULT_LIMIT, order: state.filters.order || DEFAULT_ORDER,
  };
}
