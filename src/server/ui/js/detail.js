// The detail pane: one event's envelope, payload and full JSON, beside whichever view is open.

import { api, showError } from './api.js';
import { byTestId, fill, h } from './dom.js';
import { eventCache, isFailure, jobLink, openView, redactedBadge, remember, summary, traceLink, typeBadge } from './events.js';
import { hrefFor, navigate, state } from './url-state.js';

const detail = byTestId('detail-pane');
let detailReq = 0;

/** Shows event `id` in the pane (looking it up when no view holds it); no id closes the pane. */
export async function showDetail(id) {
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

/** Opens the pane on "Loading…" while the view that should hold event `id` loads. */
export function showDetailLoading(id) {
  if (detail.dataset.eventId !== id) fill(detail, h('p', { class: 'empty' }, 'Loading…'));
  detail.hidden = false;
}

/** Makes the next showDetail draw the event again. */
export function invalidateDetail() {
  detail.dataset.rendered = '';
}

function closeButton() {
  return h('button', { type: 'button', class: 'close', 'data-testid': 'detail-close', title: 'Close (Esc)', 'aria-label': 'Close', onclick: () => navigate({ event: '' }) }, '×');
}

function envelopeOf(e) {
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
  return envelope;
}

function copyButton(e) {
  const copy = h('button', { type: 'button', class: 'small', 'data-testid': 'copy-json', onclick: async () => {
    try {
      await navigator.clipboard.writeText(JSON.stringify(e, null, 2));
      copy.textContent = 'Copied';
    } catch {
      copy.textContent = 'Copy failed';
    }
    setTimeout(() => { copy.textContent = 'Copy JSON'; }, 1500);
  } }, 'Copy JSON');
  return copy;
}

function renderDetail(e) {
  detail.dataset.rendered = 'ok';
  fill(detail,
    closeButton(),
    h('div', { class: 'detail-head' }, typeBadge(e.type), e.redacted ? redactedBadge() : null, isFailure(e) ? h('span', { class: 'badge failure' }, 'failure') : null),
    h('div', { class: 'detail-id mono', 'data-testid': 'detail-event-id' }, e.event_id),
    h('p', { class: 'detail-summary' }, summary(e)),
    e.redacted ? h('p', { class: 'notice redacted-note' }, 'Secrets in this event were replaced by [REDACTED:<kind>] before it was stored.') : null,
    h('dl', { class: 'envelope' }, envelopeOf(e).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])),
    h('div', { class: 'detail-links' },
      h('a', { href: hrefFor({ view: 'trace', id: e.trace_id }), 'data-testid': 'detail-trace-link', onclick: (ev) => openView(ev, 'trace', e.trace_id) }, 'Open trace'),
      e.job_id ? h('a', { href: hrefFor({ view: 'job', id: e.job_id }), 'data-testid': 'detail-job-link', onclick: (ev) => openView(ev, 'job', e.job_id) }, 'Open job') : null,
      copyButton(e)),
    h('h3', {}, 'Payload'),
    jsonBlock(e.payload, 'detail-payload'),
    h('details', { class: 'raw' }, h('summary', {}, 'Full event JSON'), jsonBlock(e, 'detail-json')),
  );
  detail.scrollTop = 0;
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

document.addEventListener('keydown', (ev) => {
  if (ev.key === 'Escape' && state.event && !['INPUT', 'SELECT', 'TEXTAREA'].includes(document.activeElement?.tagName)) navigate({ event: '' });
});
