// The jobs list: the recent jobs of the selected range from GET /v1/jobs (newest first), with
// their status, duration, event count and models; a job opens the job view.

import { api, clearError, showError } from './api.js';
import { meter } from './chart.js';
import { byTestId, fill, h } from './dom.js';
import { jobLink } from './events.js';
import { fmtDur, fmtNum, timeCell } from './format.js';
import { describeRange, summaryRange } from './range.js';
import { JOB_STATUSES, hrefFor, navigate, state } from './url-state.js';

export const jobsView = byTestId('jobs-view');
const LIMIT = 200;
let shown = { key: null, jobs: [], range: null };
let jobsReq = 0;

const jobsKey = () => [state.filters.range, state.filters.from, state.filters.to, state.status].join('\u0001');

/** Shows the jobs list for the range and status in the URL (asks again when they changed or `force`). */
export async function loadJobs(force = false) {
  const key = jobsKey();
  if (!force && shown.key === key) return;
  const req = ++jobsReq;
  jobsView.setAttribute('aria-busy', 'true');
  if (!shown.range) fill(jobsView, h('p', { class: 'empty' }, 'Loading jobs…'));
  try {
    const range = await summaryRange(state.filters);
    const q = new URLSearchParams({ from: range.from, to: range.to, limit: String(LIMIT) });
    if (state.status) q.set('status', state.status);
    const r = await api(`/v1/jobs?${q}`);
    if (req !== jobsReq) return;
    shown = { key, jobs: r.jobs || [], range };
    jobsView.dataset.query = q.toString();
    render();
  } catch (e) {
    if (req !== jobsReq) return;
    shown = { key: null, jobs: [], range: null };
    fill(jobsView, h('h2', {}, 'Jobs'), h('p', { class: 'empty' }, 'The jobs could not be loaded.'));
    showError(e);
  } finally {
    if (req === jobsReq) jobsView.removeAttribute('aria-busy');
  }
}

/** Forgets the list shown, so the next load asks the server. */
export function invalidateJobs() {
  shown.key = null;
}

function statusLinks() {
  return h('div', { class: 'status-filter', role: 'group', 'aria-label': 'Show jobs by status' }, ['', ...JOB_STATUSES].map((s) => {
    const changes = { view: 'jobs', id: '', status: s, event: '' };
    return h('a', {
      href: hrefFor(changes), class: `chip${state.status === s ? ' active' : ''}${s ? ` s-${s}` : ''}`, 'data-testid': `jobs-status-${s || 'any'}`,
      'aria-current': state.status === s ? 'true' : null,
      onclick: (ev) => { ev.preventDefault(); clearError(); navigate(changes); },
    }, s || 'any status');
  }));
}

function jobsTable(jobs) {
  const max = Math.max(0, ...jobs.map((j) => j.duration_ms || 0));
  const open = (j) => navigate({ view: 'job', id: j.job_id, event: '' });
  return h('div', { class: 'table-wrap' }, h('table', { class: 'events jobs', 'data-testid': 'jobs-table' },
    h('thead', {}, h('tr', {}, ['Job', 'Kind', 'Status', 'Started (UTC)', 'Duration', '', 'Events', 'Models'].map((t) => h('th', {}, t)))),
    h('tbody', {}, jobs.map((j) => h('tr', {
      class: `row${j.status === 'failed' ? ' failure' : ''}`, tabindex: '0', 'data-testid': 'jobs-row', 'data-job-id': j.job_id, 'data-status': j.status,
      onclick: () => open(j), onkeydown: (ev) => { if (ev.key === 'Enter') open(j); },
    },
    h('td', { class: 'mono' }, jobLink(j.job_id)),
    h('td', {}, j.job_kind || ''),
    h('td', {}, h('span', { class: `status s-${j.status}` }, j.status)),
    h('td', { class: 'mono c-time', title: j.started_at || '' }, j.started_at ? timeCell(j.started_at) : ''),
    h('td', { class: 'num' }, j.duration_ms === null || j.duration_ms === undefined ? '—' : fmtDur(j.duration_ms)),
    h('td', { class: 'meter-cell' }, j.duration_ms ? meter([{ value: j.duration_ms, cls: j.status === 'failed' ? 'fail' : 'ok' }], max, `${j.job_id}: ${fmtDur(j.duration_ms)}`) : ''),
    h('td', { class: 'num' }, fmtNum(j.events)),
    h('td', { class: 'mono models' }, (j.models || []).join(', ')))))));
}

function render() {
  const { jobs, range } = shown;
  fill(jobsView,
    h('div', { class: 'view-head' },
      h('h2', {}, 'Jobs'),
      h('div', { class: 'meta', 'data-testid': 'jobs-caption' },
        `${fmtNum(jobs.length)}${jobs.length >= LIMIT ? '+' : ''} job${jobs.length === 1 ? '' : 's'}${state.status ? ` ${state.status}` : ''} · ${describeRange(range)} · newest first (the time range is the filter bar’s)`),
      statusLinks()),
    jobs.length ? jobsTable(jobs) : h('p', { class: 'empty', 'data-testid': 'jobs-empty' }, 'No jobs in this range.'));
}
