// flightrec web UI: filter bar, paged event table, detail pane, trace and job views, live tail.
// Plain JS, no framework, no build step. Everything shown comes from the same-origin /v1 API.
// Event contents are untrusted: they are only ever put on the page as text (never innerHTML).
'use strict';

(() => {
  // ---------------------------------------------------------------- constants

  const TOKEN_KEY = 'flightrec.token';
  const RANGES = { '15m': 15 * 60e3, '1h': 3600e3, '24h': 86400e3, '7d': 7 * 86400e3 };
  const FILTER_KEYS = ['job_id', 'trace_id', 'type', 'actor', 'text', 'range', 'from', 'to', 'limit'];
  const DEFAULT_LIMIT = '100';
  const LIVE_INTERVAL_MS = 2000;
  const LIVE_OVERLAP_MS = 5000; // re-ask for a few seconds back, so late-arriving events are not missed
  const LIVE_MAX_ROWS = 1000;
  const LIVE_MAX_PAGES = 5;
  const STATS_INTERVAL_MS = 20000;
  const FIELD_INPUT = {
    job_id: 'filter-job', trace_id: 'filter-trace', type: 'filter-type', actor: 'filter-actor',
    text: 'filter-text', from: 'filter-from', to: 'filter-to', limit: 'filter-limit',
  };

  // ---------------------------------------------------------------- small helpers

  const byTestId = (id, root = document) => root.querySelector(`[data-testid="${id}"]`);

  /** Creates an element. attrs: class, text-free attributes, `on*` handlers, `style` object. */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (k === 'style' && typeof v === 'object') Object.assign(el.style, v);
      else if (k === 'class') el.className = v;
      else if (v === true) el.setAttribute(k, '');
      else el.setAttribute(k, String(v));
    }
    append(el, children);
    return el;
  }

  function append(el, children) {
    for (const c of children) {
      if (c === null || c === undefined || c === false) continue;
      if (Array.isArray(c)) append(el, c);
      else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
  }

  /** Replaces an element's children (null/false children are skipped, arrays flattened). */
  function fill(el, ...children) {
    el.replaceChildren();
    append(el, children);
  }

  function short(id, n = 8) {
    if (!id) return '';
    return id.length <= n + 1 ? id : id.slice(0, n) + '…';
  }

  /** Milliseconds since the epoch, keeping the microseconds as a fraction. */
  function tsMs(s) {
    if (!s) return NaN;
    const m = /\.(\d+)/.exec(s);
    const base = Date.parse(m ? s.replace(m[0], '') : s);
    return m ? base + Number('0.' + m[1]) * 1000 : base;
  }

  /** "2026-11-25T09:14:03.221000Z" -> [date, time] in UTC, keeping the digits the server sent. */
  function splitTs(s) {
    const m = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d(?:\.\d+)?)(Z|[+-]\d\d:\d\d)?$/.exec(s || '');
    if (m && (m[3] === 'Z' || m[3] === '+00:00')) return [m[1], m[2]];
    const t = tsMs(s);
    if (Number.isNaN(t)) return ['', s || ''];
    const iso = new Date(t).toISOString();
    return [iso.slice(0, 10), iso.slice(11, 23)];
  }

  function fmtTs(s) {
    const [d, t] = splitTs(s);
    return `${d} ${t}`.trim();
  }

  function timeCell(s) {
    const [d, t] = splitTs(s);
    return [h('span', { class: 'ts-date' }, d + ' '), t];
  }

  function fmtDur(ms) {
    if (!Number.isFinite(ms)) return '';
    const a = Math.abs(ms);
    if (a === 0) return '0';
    if (a < 1) return `${(ms * 1000).toFixed(0)} µs`;
    if (a < 1000) return `${ms < 10 ? ms.toFixed(2) : ms.toFixed(0)} ms`;
    if (a < 60e3) return `${(ms / 1000).toFixed(a < 10e3 ? 2 : 1)} s`;
    if (a < 3600e3) return `${Math.floor(ms / 60e3)} min ${Math.round((ms % 60e3) / 1000)} s`;
    if (a < 86400e3) return `${Math.floor(ms / 3600e3)} h ${Math.round((ms % 3600e3) / 60e3)} min`;
    return `${Math.floor(ms / 86400e3)} d ${Math.round((ms % 86400e3) / 3600e3)} h`;
  }

  const fmtNum = (n) => (typeof n === 'number' ? n.toLocaleString('en-US') : String(n ?? '?'));

  /** A time typed by a person: a date, or a date and time without an offset, is taken as UTC. */
  function normTime(s) {
    let v = (s || '').trim();
    if (!v) return '';
    v = v.replace(/^(\d{4}-\d\d-\d\d) (\d)/, '$1T$2');
    if (/^\d{4}-\d\d-\d\d$/.test(v)) return v + 'T00:00:00Z';
    if (/^\d{4}-\d\d-\d\dT\d\d:\d\d$/.test(v)) return v + ':00Z';
    if (/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?$/.test(v)) return v + 'Z';
    return v; // anything else goes to the server as typed; it names the field if it is wrong
  }

  const isoSeconds = (ms) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');

  // ---------------------------------------------------------------- API

  class ApiError extends Error {
    constructor(status, code, message, field) {
      super(message);
      this.status = status;
      this.code = code;
      this.field = field;
    }
  }

  async function api(path) {
    const headers = { Accept: 'application/json' };
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers.Authorization = `Bearer ${token}`;
    let res;
    try {
      res = await fetch(path, { headers, cache: 'no-store' });
    } catch (e) {
      throw new ApiError(0, 'NETWORK', `cannot reach the flightrec server (${e.message})`);
    }
    const text = await res.text();
    let body = null;
    try {
      body = JSON.parse(text);
    } catch {
      body = null;
    }
    if (!res.ok) {
      const b = body && typeof body === 'object' ? body : {};
      throw new ApiError(res.status, b.code || `HTTP-${res.status}`, b.message || text.slice(0, 300) || res.statusText, b.field);
    }
    if (body === null) throw new ApiError(res.status, 'BAD-RESPONSE', `${path} did not answer with JSON`);
    return body;
  }

  /** Query-string of the API filters (empty values are left out: the server rejects them). */
  function apiParams(f, extra) {
    const p = new URLSearchParams();
    for (const k of ['job_id', 'trace_id', 'type', 'actor', 'text']) if (f[k]) p.set(k, f[k].trim());
    const from = normTime(f.from);
    const to = normTime(f.to);
    if (from) p.set('from', from);
    if (to) p.set('to', to);
    p.set('limit', f.limit || DEFAULT_LIMIT);
    for (const [k, v] of Object.entries(extra || {})) {
      if (v === null || v === undefined || v === '') p.delete(k);
      else p.set(k, v);
    }
    return p;
  }

  // ---------------------------------------------------------------- URL state

  /** Everything a shared link restores lives in the hash: filters, page, open view and event. */
  function parseHash() {
    const p = new URLSearchParams(location.hash.replace(/^#/, ''));
    const filters = {};
    for (const k of FILTER_KEYS) filters[k] = p.get(k) || '';
    if (!filters.range) filters.range = filters.from || filters.to ? 'custom' : 'all';
    if (!filters.limit) filters.limit = DEFAULT_LIMIT;
    let view = p.get('view') || 'events';
    if (!['events', 'trace', 'job'].includes(view)) view = 'events';
    const id = p.get('id') || '';
    if (view !== 'events' && !id) view = 'events';
    return {
      filters,
      cursor: p.get('cursor') || '',
      page: Math.max(1, parseInt(p.get('page') || '1', 10) || 1),
      view,
      id: view === 'events' ? '' : id,
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
      p.set(k, v);
    }
    if (s.cursor) {
      p.set('cursor', s.cursor);
      p.set('page', String(s.page));
    }
    if (s.view !== 'events' && s.id) {
      p.set('view', s.view);
      p.set('id', s.id);
    }
    if (s.event) p.set('event', s.event);
    if (s.live) p.set('live', '1');
    return p.toString();
  }

  function hrefFor(changes) {
    const h2 = buildHash({ ...state, ...changes });
    return h2 ? `#${h2}` : '#';
  }

  function navigate(changes, { replace = false } = {}) {
    const next = { ...state, ...changes };
    const hash = buildHash(next);
    const url = location.pathname + location.search + (hash ? `#${hash}` : '');
    if (replace) history.replaceState(null, '', url);
    else if (url !== location.pathname + location.search + location.hash) history.pushState(null, '', url);
    route();
  }

  // ---------------------------------------------------------------- error banner and token

  const banner = byTestId('error-banner');
  const bannerText = byTestId('error-text');
  const tokenForm = byTestId('token-form');

  function showError(err) {
    if (err instanceof ApiError && err.code === 'HSK-401-UNAUTHORIZED') {
      askToken();
      return;
    }
    const code = err.code || 'ERROR';
    const field = err.field ? ` (field: ${err.field})` : '';
    bannerText.textContent = `${code}: ${err.message}${field}`;
    tokenForm.hidden = true;
    banner.hidden = false;
    markField(err.field);
    if (!(err instanceof ApiError)) console.error(err);
  }

  function markField(field) {
    for (const el of document.querySelectorAll('.filters .invalid')) {
      el.classList.remove('invalid');
      el.removeAttribute('aria-invalid');
    }
    const input = field && byTestId(FIELD_INPUT[field] || '');
    if (input) {
      input.classList.add('invalid');
      input.setAttribute('aria-invalid', 'true');
    }
  }

  function clearError() {
    if (!tokenForm.hidden) return; // still waiting for a token
    banner.hidden = true;
    bannerText.textContent = '';
    markField(null);
  }

  let tokenAsked = false;
  function askToken() {
    if (!tokenForm.hidden && !banner.hidden) return; // already asking; keep what is being typed
    const had = sessionStorage.getItem(TOKEN_KEY);
    if (had) sessionStorage.removeItem(TOKEN_KEY);
    bannerText.textContent = had
      ? 'HSK-401-UNAUTHORIZED: the token was refused. Enter the token this flightrec server was started with.'
      : 'HSK-401-UNAUTHORIZED: this flightrec server requires an access token.';
    tokenForm.hidden = false;
    banner.hidden = false;
    if (!tokenAsked) tokenForm.elements.token.focus();
    tokenAsked = true;
    pauseLiveForAuth();
  }

  tokenForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const token = tokenForm.elements.token.value.trim();
    if (!token) return;
    sessionStorage.setItem(TOKEN_KEY, token);
    tokenForm.elements.token.value = '';
    tokenForm.hidden = true;
    clearError();
    invalidate();
    loadStats();
    route();
    if (live.on && live.authWait) {
      live.authWait = false;
      clearTimeout(live.timer);
      pollLive(live.gen);
    }
  });

  byTestId('error-close').addEventListener('click', () => {
    tokenForm.hidden = true;
    clearError();
  });

  // ---------------------------------------------------------------- stats

  const statsEl = byTestId('stats');

  async function loadStats() {
    try {
      const s = await api('/v1/stats');
      const parts = [`${fmtNum(s.events)} events`];
      if (s.compacted_events !== undefined) parts.push(`${fmtNum(s.compacted_events)} compacted`);
      if (s.wal_events !== undefined) parts.push(`${fmtNum(s.wal_events)} in WAL`);
      if (s.oldest) parts.push(`oldest ${fmtTs(s.oldest).slice(0, 19)}`);
      if (s.newest) parts.push(`newest ${fmtTs(s.newest).slice(0, 19)}`);
      statsEl.textContent = parts.join(' · ');
      statsEl.title = JSON.stringify(s, null, 2);
      return s;
    } catch (e) {
      statsEl.textContent = 'stats unavailable';
      if (e.code === 'HSK-401-UNAUTHORIZED') askToken();
      return null;
    }
  }

  // ---------------------------------------------------------------- rendering pieces

  const eventCache = new Map();
  function remember(events) {
    if (eventCache.size > 50000) eventCache.clear();
    for (const e of events || []) eventCache.set(e.event_id, e);
  }

  function typeBadge(type) {
    return h('span', { class: `type t-${String(type).replace(/[^a-z_]/g, '')}` }, type);
  }

  function redactedBadge() {
    return h('span', { class: 'badge redacted', 'data-testid': 'redacted-badge', title: 'Secrets in this event were replaced by [REDACTED:<kind>] before it was stored' }, 'redacted');
  }

  function traceLink(id, { shortForm = true } = {}) {
    if (!id) return '';
    return h('a', {
      href: hrefFor({ view: 'trace', id, event: '' }), class: 'id-link', 'data-testid': 'trace-link', 'data-id': id, title: `trace ${id}`,
      onclick: (ev) => openView(ev, 'trace', id),
    }, shortForm ? short(id) : id);
  }

  function jobLink(id) {
    if (!id) return '';
    return h('a', {
      href: hrefFor({ view: 'job', id, event: '' }), class: 'id-link', 'data-testid': 'job-link', 'data-id': id, title: `job ${id}`,
      onclick: (ev) => openView(ev, 'job', id),
    }, id);
  }

  function openView(ev, view, id) {
    if (ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button === 1) return; // let the browser open a tab
    ev.preventDefault();
    ev.stopPropagation();
    clearError();
    navigate({ view, id, live: state.live && view === 'events' });
  }

  function selectEvent(e) {
    remember([e]);
    // Opening the pane is a history step (Back closes it); switching events replaces it.
    navigate({ event: e.event_id }, { replace: !!state.event });
  }

  const pl = (e) => (e.payload && typeof e.payload === 'object' ? e.payload : {});

  /** One line that says what an event was, from its payload. */
  function summary(e) {
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
      case 'debug_bundle_export':
        return join(p.bundle_id, p.scope, p.redaction_mode, p.included_event_count !== undefined ? `${fmtNum(p.included_event_count)} events` : '');
      default: {
        const s = JSON.stringify(p);
        return s.length > 160 ? s.slice(0, 160) + '…' : s;
      }
    }
  }

  function isFailure(e) {
    const p = pl(e);
    return (e.type === 'tool_call' && p.ok === false) || (e.type === 'job_lifecycle' && p.status === 'failed') ||
      (e.type === 'diagnostic' && (p.severity === 'error' || p.severity === 'fatal')) ||
      (e.type === 'capability_decision' && p.decision === 'deny') || e.type === 'workflow_recovery' ||
      (e.type === 'terminal_command' && typeof p.exit_code === 'number' && p.exit_code !== 0);
  }

  const ALL_COLS = ['time', 'type', 'actor', 'job', 'trace', 'summary'];
  const COL_TITLE = { time: 'Time (UTC)', type: 'Type', actor: 'Actor', job: 'Job', trace: 'Trace', summary: 'Summary' };

  function eventRow(e, { cols = ALL_COLS, fresh = false } = {}) {
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

  function eventTable(events, testid, cols = ALL_COLS) {
    return h('div', { class: 'table-wrap' },
      h('table', { class: 'events', 'data-testid': testid },
        h('thead', {}, h('tr', {}, cols.map((c) => h('th', { class: `c-${c}` }, COL_TITLE[c])))),
        h('tbody', {}, events.map((e) => eventRow(e, { cols })))));
  }

  function retentionNotice(gaps) {
    if (!gaps || !gaps.length) return null;
    const total = gaps.reduce((n, g) => n + (Number(g.events) || 0), 0);
    return h('div', { class: 'notice retention', 'data-testid': 'retention-notice', role: 'note' },
      h('strong', {}, `⚠ Evidence dropped by retention${total ? ` (${fmtNum(total)} events)` : ''}`),
      h('ul', {}, gaps.map((g) => h('li', {}, g.message ||
        `evidence missing due to retention: ${g.events} events between ${g.from || '?'} and ${g.to || '?'} were dropped`))));
  }

  function truncatedNotice(truncated, what, filterChanges) {
    if (!truncated) return null;
    return h('div', { class: 'notice truncated', 'data-testid': 'truncated-notice', role: 'note' },
      `This ${what} has more events than one view holds; only the first ones are shown. `,
      h('a', { href: '#', onclick: (ev) => { ev.preventDefault(); applyFilters({ ...state.filters, ...filterChanges }); } },
        'Page through all of them in the event table'), '.');
  }

  /** JSON, indented, with keys, strings and numbers told apart by colour (built as text nodes). */
  function jsonBlock(value, testid) {
    const text = JSON.stringify(value, null, 2) ?? 'undefined';
    const pre = h('pre', { class: 'json', 'data-testid': testid });
    const re = /("(?:\\.|[^"\\])*")(\s*:)?|\b(true|false|null)\b|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g;
    let last = 0;
    for (let m; (m = re.exec(text));) {
      if (m.index > last) pre.append(text.slice(last, m.index));
      if (m[1] !== undefined) {
        pre.append(h('span', { class: m[2] ? 'j-key' : 'j-str' }, m[1]));
        if (m[2]) pre.append(m[2]);
      } else if (m[3] !== undefined) pre.append(h('span', { class: 'j-lit' }, m[3]));
      else pre.append(h('span', { class: 'j-num' }, m[4]));
      last = re.lastIndex;
    }
    pre.append(text.slice(last));
    return pre;
  }

  // ---------------------------------------------------------------- filter bar

  const form = byTestId('filter-bar');

  function syncForm(f) {
    for (const k of FILTER_KEYS) {
      const el = form.elements[k];
      if (!el) continue;
      if (el.tagName === 'SELECT' && f[k] && ![...el.options].some((o) => (o.value || o.text) === f[k])) {
        el.append(h('option', { value: f[k] }, f[k])); // keep an unknown value visible; the server will judge it
      }
      el.value = f[k] || (k === 'range' ? 'all' : k === 'limit' ? DEFAULT_LIMIT : '');
    }
  }

  function readForm() {
    const f = {};
    for (const k of FILTER_KEYS) f[k] = (form.elements[k].value || '').trim();
    return f;
  }

  function applyFilters(f) {
    clearError();
    pageStack = [];
    forceReload = true; // Apply with unchanged filters still asks the server again
    navigate({ filters: f, cursor: '', page: 1, view: 'events', id: '' });
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
  for (const k of ['type', 'actor', 'limit']) {
    form.elements[k].addEventListener('change', () => applyFilters(readForm()));
  }

  byTestId('filter-reset').addEventListener('click', () => {
    applyFilters({ job_id: '', trace_id: '', type: '', actor: '', text: '', range: 'all', from: '', to: '', limit: DEFAULT_LIMIT });
  });

  // ---------------------------------------------------------------- event table (paged)

  const eventsView = byTestId('events-view');
  const tbody = byTestId('event-table').querySelector('tbody');
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

  function tableKey() {
    return apiParams(state.filters, { cursor: state.cursor }).toString();
  }

  async function loadEvents(force = false) {
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

  function describeFilters(f) {
    const parts = [];
    if (f.job_id) parts.push(`job ${f.job_id}`);
    if (f.trace_id) parts.push(`trace ${short(f.trace_id, 13)}`);
    if (f.type) parts.push(f.type);
    if (f.actor) parts.push(`actor ${f.actor}`);
    if (f.text) parts.push(`ids containing “${f.text}”`);
    if (f.from) parts.push(`from ${normTime(f.from)}`);
    if (f.to) parts.push(`to ${normTime(f.to)}`);
    return parts.length ? parts.join(', ') : 'all events';
  }

  function renderTable() {
    if (live.on) return renderLive();
    const rows = loaded.events;
    tableShows = 'page';
    tbody.replaceChildren(...rows.map((e) => eventRow(e)));
    const pageNo = state.cursor ? state.page : 1;
    caption.textContent = rows.length
      ? `${describeFilters(state.filters)} · page ${pageNo} · ${rows.length} event${rows.length === 1 ? '' : 's'}, oldest first${loaded.next ? '' : ' · last page'}`
      : `${describeFilters(state.filters)} · page ${pageNo}`;
    emptyEl.hidden = rows.length > 0 || loaded.key === null;
    emptyEl.textContent = state.cursor ? 'No more events.' : 'No events match these filters.';
    byTestId('event-table').parentElement.hidden = rows.length === 0;
    document.querySelector('.pager').hidden = false;
    nextBtn.disabled = !loaded.next;
    prevBtn.disabled = !state.cursor;
    firstBtn.disabled = !state.cursor;
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

  // ---------------------------------------------------------------- live tail

  const liveBtn = byTestId('live-toggle');
  const pauseBtn = byTestId('live-pause');
  const live = { on: false, paused: false, authWait: false, timer: null, since: null, startedFrom: null, rows: [], seen: new Set(), freshIds: new Set(), gen: 0, key: null, lastPoll: null, polls: 0, inFlight: false };

  function liveKey() {
    const f = state.filters;
    return ['job_id', 'trace_id', 'type', 'actor', 'text'].map((k) => f[k]).join('\u0001');
  }

  function startLive() {
    const key = liveKey();
    if (live.on && live.key === key) return;
    stopLive();
    Object.assign(live, { on: true, paused: false, authWait: false, since: null, startedFrom: null, rows: [], seen: new Set(), freshIds: new Set(), key, lastPoll: null, polls: 0, inFlight: false });
    live.gen += 1;
    updateLiveButtons();
    renderLive();
    pollLive(live.gen);
  }

  function stopLive() {
    if (!live.on) return;
    live.on = false;
    live.gen += 1;
    clearTimeout(live.timer);
    live.timer = null;
    updateLiveButtons();
  }

  function pauseLiveForAuth() {
    if (live.on) live.authWait = true;
  }

  function updateLiveButtons() {
    liveBtn.textContent = live.on ? 'Live tail: on' : 'Live tail: off';
    liveBtn.setAttribute('aria-pressed', String(live.on));
    liveBtn.classList.toggle('on', live.on);
    pauseBtn.hidden = !live.on;
    pauseBtn.textContent = live.paused ? 'Resume' : 'Pause';
    pauseBtn.classList.toggle('paused', live.paused);
  }

  /** One poll now (unless one is out already), then the next in LIVE_INTERVAL_MS. */
  async function pollLive(gen) {
    if (!live.on || gen !== live.gen || live.paused || live.authWait || live.inFlight) return;
    clearTimeout(live.timer);
    live.inFlight = true;
    try {
      await pollOnce(gen);
    } finally {
      if (gen === live.gen) live.inFlight = false;
    }
    if (gen !== live.gen) return;
    if (state.view === 'events') renderLive();
    if (live.on && !live.paused && !live.authWait) live.timer = setTimeout(() => pollLive(gen), LIVE_INTERVAL_MS);
  }

  async function pollOnce(gen) {
    try {
      if (!live.since) {
        const s = await loadStats();
        if (gen !== live.gen) return;
        live.since = (s && s.newest) || new Date().toISOString();
        live.startedFrom = live.since;
      }
      const from = live.polls ? new Date(tsMs(live.since) - LIVE_OVERLAP_MS).toISOString() : live.startedFrom;
      const filters = { ...state.filters, from, to: '' };
      let cursor = '';
      const got = [];
      for (let i = 0; i < LIVE_MAX_PAGES; i++) {
        const page = await api(`/v1/events?${apiParams(filters, { cursor, limit: '1000' })}`);
        if (gen !== live.gen) return;
        got.push(...(page.events || []));
        if (!page.next_cursor) break;
        cursor = page.next_cursor;
      }
      // Paused while the request was out: the table holds still; the next poll asks again.
      if (live.paused) return;
      const fresh = [];
      const floor = tsMs(live.startedFrom);
      for (const e of got) {
        if (live.seen.has(e.event_id) || tsMs(e.timestamp) < floor) continue;
        live.seen.add(e.event_id);
        fresh.push(e);
        if (tsMs(e.timestamp) > tsMs(live.since)) live.since = e.timestamp;
      }
      remember(fresh);
      live.polls += 1;
      live.lastPoll = new Date();
      live.freshIds = new Set(fresh.map((e) => e.event_id));
      if (fresh.length) {
        live.rows = fresh.concat(live.rows);
        live.rows.sort((a, b) => tsMs(b.timestamp) - tsMs(a.timestamp) || (a.event_id < b.event_id ? 1 : -1));
        if (live.rows.length > LIVE_MAX_ROWS) {
          // Forget the oldest rows, but keep remembering the ids inside the overlap window.
          const keepAfter = tsMs(live.since) - 2 * LIVE_OVERLAP_MS;
          live.rows.slice(LIVE_MAX_ROWS).forEach((e) => { if (tsMs(e.timestamp) < keepAfter) live.seen.delete(e.event_id); });
          live.rows.length = LIVE_MAX_ROWS;
        }
      }
      if (!banner.hidden && tokenForm.hidden && bannerText.textContent.startsWith('NETWORK')) clearError();
    } catch (e) {
      if (gen !== live.gen) return;
      showError(e);
    }
  }

  function renderLive() {
    if (!live.on) return;
    const rows = live.rows;
    tableShows = 'live';
    tbody.replaceChildren(...rows.map((e) => eventRow(e, { fresh: live.freshIds.has(e.event_id) })));
    const status = live.paused ? 'paused' : live.authWait ? 'waiting for a token' : `polling every ${LIVE_INTERVAL_MS / 1000} s`;
    const since = live.startedFrom ? ` since ${fmtTs(live.startedFrom)}` : '';
    caption.textContent = `Live tail · ${describeFilters({ ...state.filters, from: '', to: '' })} · newest first · ${rows.length} event${rows.length === 1 ? '' : 's'}${since} · ${status}`;
    emptyEl.hidden = rows.length > 0;
    emptyEl.textContent = live.since ? 'Waiting for new events…' : 'Starting the live tail…';
    byTestId('event-table').parentElement.hidden = rows.length === 0;
    document.querySelector('.pager').hidden = true;
  }

  liveBtn.addEventListener('click', () => {
    clearError();
    navigate({ live: !live.on, view: 'events', id: '', cursor: '', page: 1 });
  });

  pauseBtn.addEventListener('click', () => {
    if (!live.on) return;
    live.paused = !live.paused;
    updateLiveButtons();
    clearTimeout(live.timer);
    if (!live.paused) pollLive(live.gen);
    else renderLive();
  });

  // ---------------------------------------------------------------- trace view

  const traceView = byTestId('trace-view');
  const jobView = byTestId('job-view');
  const viewCache = { trace: new Map(), job: new Map() };
  let viewReq = 0;

  async function loadView(kind, id) {
    const el = kind === 'trace' ? traceView : jobView;
    const cached = viewCache[kind].get(id);
    if (cached) {
      if (el.dataset.id !== id || el.dataset.rendered !== 'ok') renderView(kind, id, cached);
      else refreshSelection(el);
      return;
    }
    const req = ++viewReq;
    el.dataset.id = id;
    el.dataset.rendered = 'loading';
    el.setAttribute('aria-busy', 'true');
    el.replaceChildren(h('p', { class: 'empty' }, `Loading ${kind} ${id}…`));
    try {
      const data = await api(`/v1/${kind === 'trace' ? 'traces' : 'jobs'}/${encodeURIComponent(id)}`);
      if (req !== viewReq) return;
      remember(data.events);
      remember(data.lifecycle);
      if (viewCache[kind].size > 20) viewCache[kind].clear();
      viewCache[kind].set(id, data);
      renderView(kind, id, data);
    } catch (e) {
      if (req !== viewReq) return;
      el.dataset.rendered = 'error';
      fill(el,
        h('h2', {}, `${kind === 'trace' ? 'Trace' : 'Job'} `, h('span', { class: 'mono' }, id)),
        h('p', { class: 'empty' }, e.status === 404 ? `No events are recorded for this ${kind}.` : `The ${kind} could not be loaded.`),
      );
      showError(e);
    } finally {
      if (req === viewReq) el.removeAttribute('aria-busy');
    }
  }

  function refreshView(kind, id) {
    clearError();
    viewCache[kind].delete(id);
    loadView(kind, id);
  }

  function renderView(kind, id, data) {
    const el = kind === 'trace' ? traceView : jobView;
    el.dataset.id = id;
    el.dataset.rendered = 'ok';
    fill(el, kind === 'trace' ? traceContent(data) : jobContent(data));
  }

  function refreshSelection(root) {
    for (const r of root.querySelectorAll('[data-event-id]')) r.classList.toggle('selected', r.dataset.eventId === state.event);
  }

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

  function traceContent(v) {
    const events = v.events || [];
    const spans = v.spans || [];
    const [t0, t1] = timeBounds(events, spans);
    const pct = (t) => ((t - t0) / (t1 - t0)) * 100;
    const firstTs = events.length ? events[0].timestamp : spans.length ? spans[0].start : null;

    const header = h('div', { class: 'view-head' },
      h('h2', {}, 'Trace ', h('span', { class: 'mono', 'data-testid': 'trace-id' }, v.trace_id)),
      h('div', { class: 'meta' },
        `${fmtNum(events.length)} event${events.length === 1 ? '' : 's'} · ${fmtNum(spans.length)} span${spans.length === 1 ? '' : 's'}`,
        events.length ? ` · ${fmtTs(events[0].timestamp)} → ${fmtTs(events[events.length - 1].timestamp)} (${fmtDur(t1 - t0)})` : ''),
      h('div', { class: 'meta' }, 'Jobs: ',
        (v.jobs || []).length ? (v.jobs || []).map((j, i) => [i ? ', ' : '', jobLink(j)]) : h('span', { class: 'muted' }, 'none')),
      h('div', { class: 'actions' },
        h('button', { type: 'button', onclick: () => applyFilters({ ...emptyFilters(), trace_id: v.trace_id }) }, 'Show in event table'),
        ' ',
        h('button', { type: 'button', 'data-testid': 'view-refresh', onclick: () => refreshView('trace', v.trace_id) }, 'Refresh')));

    const axis = h('div', { class: 'tl-row tl-axis' },
      h('div', { class: 'tl-label muted' }, firstTs ? fmtTs(firstTs) : ''),
      h('div', { class: 'tl-track' }, [0, 25, 50, 75, 100].map((p) =>
        h('span', { class: `tick${p === 0 ? ' first' : p === 100 ? ' last' : ''}`, style: { left: `${p}%` } }, `+${fmtDur(((t1 - t0) * p) / 100)}`))));

    const allRow = h('div', { class: 'tl-row tl-events', 'data-testid': 'timeline-events' },
      h('div', { class: 'tl-label' }, h('span', { class: 'kind' }, 'events'), ` ${fmtNum(events.length)}`),
      h('div', { class: 'tl-track' }, events.map((e) => marker(e, pct))));

    const spanRows = spanTree(spans).map(({ span: s, depth, last, orphanParent }) => {
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
    });

    const timeline = h('div', { class: 'timeline', 'data-testid': 'trace-timeline' }, axis, allRow,
      spanRows.length ? spanRows : h('div', { class: 'tl-row' }, h('div', { class: 'tl-label muted' }, 'no spans'), h('div', { class: 'tl-track' })));

    return [
      header,
      retentionNotice(v.retention_gaps),
      truncatedNotice(v.truncated, 'trace', { ...emptyFilters(), trace_id: v.trace_id }),
      h('h3', {}, 'Timeline'),
      timeline,
      h('p', { class: 'legend muted' }, 'One row per span (children indented under their parent); bars run from start to end, ticks are events. Click a tick or a span for the event.'),
      h('h3', {}, `Events (${fmtNum(events.length)})`),
      events.length ? eventTable(events, 'trace-events', ['time', 'type', 'actor', 'job', 'summary']) : h('p', { class: 'empty' }, 'No surviving events.'),
    ];
  }

  // ---------------------------------------------------------------- job view

  function jobContent(v) {
    const events = v.events || [];
    const lifecycle = v.lifecycle || [];
    const status = v.status || 'unknown';
    const perTrace = new Map();
    for (const e of events) {
      const t = perTrace.get(e.trace_id) || { n: 0, first: e.timestamp, last: e.timestamp, types: new Set(), failed: false };
      t.n += 1;
      t.last = e.timestamp;
      t.types.add(e.type);
      t.failed = t.failed || isFailure(e);
      perTrace.set(e.trace_id, t);
    }
    const traces = v.traces || [...perTrace.keys()];

    const header = h('div', { class: 'view-head' },
      h('h2', {}, 'Job ', h('span', { class: 'mono', 'data-testid': 'job-id' }, v.job_id), ' ',
        h('span', { class: `status s-${status}`, 'data-testid': 'job-status' }, status)),
      h('div', { class: 'meta' },
        `${fmtNum(events.length)} event${events.length === 1 ? '' : 's'} · ${fmtNum(traces.length)} trace${traces.length === 1 ? '' : 's'}`,
        events.length ? ` · ${fmtTs(events[0].timestamp)} → ${fmtTs(events[events.length - 1].timestamp)} (${fmtDur(tsMs(events[events.length - 1].timestamp) - tsMs(events[0].timestamp))})` : ''),
      h('div', { class: 'actions' },
        h('button', { type: 'button', onclick: () => applyFilters({ ...emptyFilters(), job_id: v.job_id }) }, 'Show in event table'),
        ' ',
        h('button', { type: 'button', 'data-testid': 'view-refresh', onclick: () => refreshView('job', v.job_id) }, 'Refresh')));

    const lifecycleTable = lifecycle.length
      ? h('div', { class: 'table-wrap' }, h('table', { class: 'events lifecycle', 'data-testid': 'job-lifecycle' },
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
        }))))
      : h('p', { class: 'empty' }, 'No job_lifecycle events survive for this job.');

    const traceList = traces.length
      ? h('div', { class: 'table-wrap' }, h('table', { class: 'events traces', 'data-testid': 'job-traces' },
        h('thead', {}, h('tr', {}, ['Trace', 'First event (UTC)', 'Events', 'Types'].map((t) => h('th', {}, t)))),
        h('tbody', {}, traces.map((id) => {
          const t = perTrace.get(id);
          return h('tr', { class: t && t.failed ? 'failure' : '' },
            h('td', { class: 'mono' }, traceLink(id, { shortForm: false })),
            h('td', { class: 'mono c-time' }, t ? timeCell(t.first) : ''),
            h('td', {}, t ? fmtNum(t.n) : h('span', { class: 'muted', title: 'no surviving event of this trace is in this view' }, '—')),
            h('td', {}, t ? [...t.types].map((ty) => typeBadge(ty)) : ''));
        }))))
      : h('p', { class: 'empty' }, 'No traces.');

    return [
      header,
      retentionNotice(v.retention_gaps),
      truncatedNotice(v.truncated, 'job', { ...emptyFilters(), job_id: v.job_id }),
      h('h3', {}, 'Lifecycle'),
      lifecycleTable,
      h('h3', {}, `Traces (${fmtNum(traces.length)})`),
      traceList,
      h('h3', {}, `Events (${fmtNum(events.length)})`),
      events.length ? eventTable(events, 'job-events', ['time', 'type', 'actor', 'trace', 'summary']) : h('p', { class: 'empty' }, 'No surviving events.'),
    ];
  }

  function emptyFilters() {
    return { job_id: '', trace_id: '', type: '', actor: '', text: '', range: 'all', from: '', to: '', limit: state.filters.limit || DEFAULT_LIMIT };
  }

  // ---------------------------------------------------------------- detail pane

  const detail = byTestId('detail-pane');
  let detailReq = 0;

  async function showDetail(id) {
    if (!id) {
      detail.hidden = true;
      detail.replaceChildren();
      document.body.classList.remove('with-detail');
      return;
    }
    document.body.classList.add('with-detail');
    detail.hidden = false;
    if (detail.dataset.eventId === id && detail.dataset.rendered === 'ok') return;
    detail.dataset.eventId = id;
    let e = eventCache.get(id);
    if (!e) {
      const req = ++detailReq;
      detail.dataset.rendered = 'loading';
      detail.replaceChildren(closeButton(), h('p', { class: 'empty' }, `Loading event ${id}…`));
      try {
        // No lookup by id in the API: a text search over ids finds it (an event id is a UUID).
        const page = await api(`/v1/events?${new URLSearchParams({ text: id, limit: '50' })}`);
        if (req !== detailReq) return;
        e = (page.events || []).find((x) => x.event_id === id);
        if (e) remember([e]);
      } catch (err) {
        if (req !== detailReq) return;
        showError(err);
      }
    }
    if (!e) {
      detail.dataset.rendered = 'missing';
      fill(detail, closeButton(), h('h2', {}, 'Event'), h('p', { class: 'mono' }, id),
        h('p', { class: 'empty' }, 'This event is not in the recorder: it may have been dropped by retention, or the id is wrong.'));
      return;
    }
    renderDetail(e);
  }

  function closeButton() {
    return h('button', { type: 'button', class: 'close', 'data-testid': 'detail-close', title: 'Close (Esc)', 'aria-label': 'Close', onclick: () => navigate({ event: '' }) }, '×');
  }

  function renderDetail(e) {
    detail.dataset.rendered = 'ok';
    const envelope = [
      ['time', h('span', { class: 'mono' }, e.timestamp)],
      ['actor', e.actor],
      ['trace', traceLink(e.trace_id, { shortForm: false })],
      ['job', e.job_id ? jobLink(e.job_id) : h('span', { class: 'muted' }, '—')],
    ];
    for (const k of ['model_id', 'model_session_id', 'activity_span_id', 'session_span_id', 'capability_id', 'policy_decision_id']) {
      if (e[k] !== undefined && e[k] !== null) envelope.push([k, h('span', { class: 'mono' }, e[k])]);
    }
    if (Array.isArray(e.wsids) && e.wsids.length) envelope.push(['wsids', h('span', { class: 'mono' }, e.wsids.join(', '))]);
    envelope.push(['lsn', h('span', { class: 'mono' }, String(e.lsn))]);

    const copy = h('button', { type: 'button', class: 'small', 'data-testid': 'copy-json', onclick: async () => {
      try {
        await navigator.clipboard.writeText(JSON.stringify(e, null, 2));
        copy.textContent = 'Copied';
      } catch {
        copy.textContent = 'Copy failed';
      }
      setTimeout(() => { copy.textContent = 'Copy JSON'; }, 1500);
    } }, 'Copy JSON');

    fill(detail,
      closeButton(),
      h('div', { class: 'detail-head' }, typeBadge(e.type), e.redacted ? redactedBadge() : null, isFailure(e) ? h('span', { class: 'badge failure' }, 'failure') : null),
      h('div', { class: 'detail-id mono', 'data-testid': 'detail-event-id' }, e.event_id),
      h('p', { class: 'detail-summary' }, summary(e)),
      e.redacted ? h('p', { class: 'notice redacted-note' }, 'Secrets in this event were replaced by [REDACTED:<kind>] before it was stored.') : null,
      h('dl', { class: 'envelope' }, envelope.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])),
      h('div', { class: 'detail-links' },
        h('a', { href: hrefFor({ view: 'trace', id: e.trace_id }), 'data-testid': 'detail-trace-link', onclick: (ev) => openView(ev, 'trace', e.trace_id) }, 'Open trace'),
        e.job_id ? h('a', { href: hrefFor({ view: 'job', id: e.job_id }), 'data-testid': 'detail-job-link', onclick: (ev) => openView(ev, 'job', e.job_id) }, 'Open job') : null,
        copy),
      h('h3', {}, 'Payload'),
      jsonBlock(e.payload, 'detail-payload'),
      h('details', { class: 'raw' }, h('summary', {}, 'Full event JSON'), jsonBlock(e, 'detail-json')),
    );
    detail.scrollTop = 0;
  }

  document.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && state.event && !['INPUT', 'SELECT', 'TEXTAREA'].includes(document.activeElement?.tagName)) navigate({ event: '' });
  });

  // ---------------------------------------------------------------- breadcrumbs and routing

  const crumbs = byTestId('crumbs');

  function renderCrumbs() {
    const items = [h('a', { href: hrefFor({ view: 'events', id: '', event: state.event }), onclick: (ev) => { ev.preventDefault(); navigate({ view: 'events', id: '' }); } },
      live.on ? 'Live tail' : 'Events')];
    if (state.view === 'trace') items.push(' › Trace ', h('span', { class: 'mono' }, state.id));
    if (state.view === 'job') items.push(' › Job ', h('span', { class: 'mono' }, state.id));
    fill(crumbs, items);
    crumbs.hidden = state.view === 'events';
  }

  let state = parseHash();

  function invalidate() {
    loaded.key = null;
    viewCache.trace.clear();
    viewCache.job.clear();
    detail.dataset.rendered = '';
    traceView.dataset.rendered = '';
    jobView.dataset.rendered = '';
  }

  async function route() {
    state = parseHash();
    syncForm(state.filters);
    if (state.live) startLive();
    else stopLive();
    renderCrumbs();
    eventsView.hidden = state.view !== 'events';
    traceView.hidden = state.view !== 'trace';
    jobView.hidden = state.view !== 'job';
    document.title = state.view === 'events' ? (live.on ? 'flightrec · live' : 'flightrec') : `flightrec · ${state.view} ${state.id}`;
    let work = null;
    if (state.view === 'trace') work = loadView('trace', state.id);
    else if (state.view === 'job') work = loadView('job', state.id);
    else if (live.on) renderLive();
    else work = loadEvents(forceReload);
    forceReload = false;
    if (state.event && !eventCache.has(state.event)) {
      // The open view usually holds the event; look it up by id only when it does not.
      if (detail.dataset.eventId !== state.event) fill(detail, h('p', { class: 'empty' }, 'Loading…'));
      detail.hidden = false;
      await work;
    }
    await Promise.all([work, showDetail(parseHash().event)]);
    if (state.view === 'events' && !live.on) refreshSelection(eventsView);
  }

  window.addEventListener('popstate', () => route());
  route();
  loadStats();
  setInterval(() => { if (!document.hidden) loadStats(); }, STATS_INTERVAL_MS);
})();
