// Live tail: polls for events newer than the newest one seen and shows them in the event table
// (newest first unless oldest first was chosen), under the filters in use (but not their time
// range).

import { api, apiParams, clearError, clearNetworkError, showError } from './api.js';
import { byTestId } from './dom.js';
import { fmtTs, tsMs } from './format.js';
import { remember } from './events.js';
import { loadStats } from './stats.js';
import { describeFilters, orderText, setLiveRenderer, showLiveRows } from './table.js';
import { navigate, state } from './url-state.js';

const LIVE_INTERVAL_MS = 2000;
const LIVE_OVERLAP_MS = 5000; // re-ask for a few seconds back, so late-arriving events are not missed
const LIVE_MAX_ROWS = 1000;
const LIVE_MAX_PAGES = 5;

const liveBtn = byTestId('live-toggle');
const pauseBtn = byTestId('live-pause');
const live = { on: false, paused: false, authWait: false, timer: null, since: null, startedFrom: null, rows: [], seen: new Set(), freshIds: new Set(), gen: 0, key: null, lastPoll: null, polls: 0, inFlight: false };

export const isLive = () => live.on;

function liveKey() {
  const f = state.filters;
  return ['job_id', 'trace_id', 'type', 'actor', 'text'].map((k) => f[k]).join('\u0001');
}

export function startLive() {
  const key = liveKey();
  if (live.on && live.key === key) return;
  stopLive();
  Object.assign(live, { on: true, paused: false, authWait: false, since: null, startedFrom: null, rows: [], seen: new Set(), freshIds: new Set(), key, lastPoll: null, polls: 0, inFlight: false });
  live.gen += 1;
  setLiveRenderer(renderLive);
  updateLiveButtons();
  renderLive();
  pollLive(live.gen);
}

export function stopLive() {
  if (!live.on) return;
  live.on = false;
  live.gen += 1;
  clearTimeout(live.timer);
  live.timer = null;
  setLiveRenderer(null);
  updateLiveButtons();
}

/** A token is asked for: polls wait until one is entered. */
export function pauseLiveForAuth() {
  if (live.on) live.authWait = true;
}

/** A token was entered: polls go on at once. */
export function resumeLiveAfterAuth() {
  if (live.on && live.authWait) {
    live.authWait = false;
    clearTimeout(live.timer);
    pollLive(live.gen);
  }
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
    // Pages oldest first, so `since` only moves past events already seen (none is skipped).
    const filters = { ...state.filters, from, to: '', order: 'asc' };
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
    addFresh(got);
    clearNetworkError();
  } catch (e) {
    if (gen !== live.gen) return;
    showError(e);
  }
}

/** Adds the events not seen before to the rows (newest first, at most LIVE_MAX_ROWS). */
function addFresh(got) {
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
}

export function renderLive() {
  if (!live.on) return;
  const rows = state.filters.order === 'asc' ? [...live.rows].reverse() : live.rows;
  const status = live.paused ? 'paused' : live.authWait ? 'waiting for a token' : `polling every ${LIVE_INTERVAL_MS / 1000} s`;
  const since = live.startedFrom ? ` since ${fmtTs(live.startedFrom)}` : '';
  showLiveRows(rows, (e) => live.freshIds.has(e.event_id),
    `Live tail · ${describeFilters({ ...state.filters, from: '', to: '' })} · ${orderText()} · ${rows.length} event${rows.length === 1 ? '' : 's'}${since} · ${status}`,
    live.since ? 'Waiting for new events…' : 'Starting the live tail…');
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
