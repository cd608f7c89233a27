// flightrec web UI, entry module: routes the hash to a view (overview and event table or live
// tail, jobs list, trace, job; the detail pane beside any of them) and wires the views together.
// Plain JS modules, no framework, no build step. Everything shown comes from the same-origin /v1
// API. Event contents are untrusted: they are only ever put on the page as text (never innerHTML).

import { onAuth } from './api.js';
import { byTestId, fill, h } from './dom.js';
import { eventCache, refreshSelection } from './events.js';
import { invalidateDetail, showDetail, showDetailLoading } from './detail.js';
import { invalidateViews } from './entity-view.js';
import { jobView, loadJob } from './job.js';
import { invalidateJobs, jobsView, loadJobs } from './jobs.js';
import { isLive, pauseLiveForAuth, renderLive, resumeLiveAfterAuth, startLive, stopLive } from './live.js';
import { invalidateOverview, loadOverview, overviewEl } from './overview.js';
import { loadStats } from './stats.js';
import { eventsView, invalidateTable, loadEvents, syncForm, takeForceReload } from './table.js';
import { loadTrace, traceView } from './trace.js';
import { hashEvent, hrefFor, navigate, readState, setRouter, state } from './url-state.js';

const STATS_INTERVAL_MS = 20000;
const crumbs = byTestId('crumbs');
const nav = { events: byTestId('nav-events'), jobs: byTestId('nav-jobs') };

function renderCrumbs() {
  const items = [h('a', { href: hrefFor({ view: 'events', id: '', event: state.event }), onclick: (ev) => { ev.preventDefault(); navigate({ view: 'events', id: '' }); } },
    isLive() ? 'Live tail' : 'Events')];
  if (state.view === 'jobs') items.push(' › Jobs');
  if (state.view === 'trace') items.push(' › Trace ', h('span', { class: 'mono' }, state.id));
  if (state.view === 'job') items.push(' › Job ', h('span', { class: 'mono' }, state.id));
  fill(crumbs, items);
  crumbs.hidden = state.view === 'events';
}

/** The top bar's view links keep the filters in use, and mark the view shown. */
function renderNav() {
  for (const [view, a] of Object.entries(nav)) {
    a.href = hrefFor({ view, id: '', event: '', status: '', cursor: '', page: 1 });
    a.onclick = (ev) => {
      if (ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button === 1) return;
      ev.preventDefault();
      navigate({ view, id: '', event: '', status: '', cursor: '', page: 1 });
    };
    if (state.view === view) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

/** Forgets every page, view and event drawn, so the next route asks the server again. */
function invalidate() {
  invalidateTable();
  invalidateOverview();
  invalidateJobs();
  invalidateViews();
  invalidateDetail();
}

async function route() {
  readState(); // `state` below is the live binding: a newer route may change it while this one waits
  syncForm(state.filters);
  if (state.live) startLive();
  else stopLive();
  renderCrumbs();
  renderNav();
  eventsView.hidden = state.view !== 'events';
  jobsView.hidden = state.view !== 'jobs';
  traceView.hidden = state.view !== 'trace';
  jobView.hidden = state.view !== 'job';
  overviewEl.hidden = isLive(); // the live tail ignores the time range the overview summarises
  document.title = state.view === 'events' ? (isLive() ? 'flightrec · live' : 'flightrec') : `flightrec · ${state.view} ${state.id}`.trim();
  const force = takeForceReload();
  let work = null;
  if (state.view === 'trace') work = loadTrace(state.id);
  else if (state.view === 'job') work = loadJob(state.id);
  else if (state.view === 'jobs') work = loadJobs(force);
  else if (isLive()) renderLive();
  else work = Promise.all([loadEvents(force), loadOverview(force)]);
  if (state.event && !eventCache.has(state.event)) {
    // The open view usually holds the event; look it up by id only when it does not.
    showDetailLoading(state.event);
    await work;
  }
  await Promise.all([work, showDetail(hashEvent())]);
  if (state.view === 'events' && !isLive()) refreshSelection(eventsView);
}

onAuth({
  asked: pauseLiveForAuth,
  tokenSet: () => {
    invalidate();
    loadStats();
    route();
    resumeLiveAfterAuth();
  },
});
setRouter(route);
window.addEventListener('popstate', () => route());
route();
loadStats();
setInterval(() => { if (!document.hidden) loadStats(); }, STATS_INTERVAL_MS);
