// Browser test of the flightrec web UI, run against a live `flightrec serve --demo`.
//
//   node ui.test.mjs <base-url> <screenshot-dir>
//
// Drives Debian's chromium (/usr/bin/chromium) headless through playwright-core, checks what
// the page SHOWS, and saves one screenshot per check. Exits 0 when every check passes; the
// last line printed is "N passed, M failed".
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';

const [baseArg, shotDir] = process.argv.slice(2);
if (!baseArg || !shotDir) {
  console.error('usage: node ui.test.mjs <base-url> <screenshot-dir>');
  process.exit(2);
}
const base = baseArg.replace(/\/+$/, '');
fs.mkdirSync(shotDir, { recursive: true });

const CHECK_TIMEOUT_MS = 60_000;
const HARD_TIMEOUT_MS = 8 * 60_000;
const DRAG_WAIT_MS = 40_000; // the drag's URL and redraw, on a loaded machine
const LIVE_WAIT_MS = 7_000; // "new events within ~6 s" (2 s polling + request time)
const TYPES = ['terminal_command', 'editor_edit', 'diagnostic', 'debug_bundle_export', 'llm_inference', 'tool_call', 'workflow_recovery', 'job_lifecycle', 'capability_decision', 'span', 'log'];

const hardStop = setTimeout(() => {
  console.log(`FAIL the whole run took over ${HARD_TIMEOUT_MS / 1000} s`);
  console.log(`${passed} passed, ${failed + 1} failed`);
  process.exit(1);
}, HARD_TIMEOUT_MS);

let passed = 0;
let failed = 0;
let checkNo = 0;
const pageErrors = [];

// ---------------------------------------------------------------- helpers

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function assert(cond, message) {
  if (!cond) throw new Error(message);
}

/** Polls `fn` until it returns a truthy value; fails with `what` and the last value seen. */
async function until(what, fn, timeout = 15_000, every = 150) {
  const end = Date.now() + timeout;
  let last;
  let lastErr;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() > end) {
      const detail = lastErr ? ` (last error: ${lastErr.message.split('\n')[0]})` : last !== undefined ? ` (last value: ${JSON.stringify(last)})` : '';
      throw new Error(`timed out after ${timeout / 1000} s waiting for ${what}${detail}`);
    }
    await sleep(every);
  }
}

const tid = (id) => `[data-testid="${id}"]`;

/** Microseconds since the epoch of an RFC 3339 timestamp (keeps the digits past ms). */
function tsMicros(s) {
  const m = /\.(\d+)/.exec(s);
  const ms = Date.parse(m ? s.replace(m[0], '') : s);
  const frac = m ? Math.round(Number(`0.${m[1]}`) * 1e6) : 0;
  return ms * 1000 + frac;
}

/** The rows of a table as the page shows them. */
async function rowsOf(page, tableTestId) {
  return page.$$eval(`${tid(tableTestId)} ${tid('event-row')}`, (rows) => rows
    .filter((r) => r.offsetParent !== null)
    .map((r) => {
      const cell = (c) => (r.querySelector(`[data-col="${c}"]`)?.textContent || '').trim();
      const traceA = r.querySelector('[data-col="trace"] a');
      return {
        id: r.dataset.eventId, ts: r.dataset.ts, time: cell('time'), type: cell('type'), actor: cell('actor'),
        job: cell('job'), trace: traceA ? traceA.dataset.id : '', summary: cell('summary'),
      };
    }));
}

async function visible(page, selector) {
  const el = await page.$(selector);
  return !!el && (await el.isVisible());
}

async function idle(page, testid) {
  await until(`${testid} to finish loading`, async () => page.$eval(tid(testid), (el) => !el.hasAttribute('aria-busy') && !el.hidden).catch(() => false));
}

async function check(page, name, fn) {
  checkNo += 1;
  const n = String(checkNo).padStart(2, '0');
  const started = Date.now();
  let timer;
  try {
    await Promise.race([
      fn(),
      new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`check took over ${CHECK_TIMEOUT_MS / 1000} s`)), CHECK_TIMEOUT_MS); }),
    ]);
    passed += 1;
    console.log(`ok   ${n} ${name} (${Date.now() - started} ms)`);
  } catch (e) {
    failed += 1;
    const lines = String(e.message || e).replace(/\x1b\[[0-9;]*m/g, '').split('\n').filter((l) => l.trim());
    console.log(`FAIL ${n} ${name}: ${lines.slice(0, 6).join('\n     ')}`);
  } finally {
    clearTimeout(timer);
  }
  const file = path.join(shotDir, `${n}-${name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '')}.png`);
  try {
    await page.screenshot({ path: file });
  } catch (e) {
    console.log(`     (no screenshot: ${e.message.split('\n')[0]})`);
  }
}

// ---------------------------------------------------------------- run

let browser;
try {
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
} catch (e) {
  console.log(`FAIL launching /usr/bin/chromium: ${e.message.split('\n')[0]}`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}

const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
const watch = (p) => p.on('pageerror', (err) => pageErrors.push(`${p.url()}: ${err.message}`));
context.setDefaultTimeout(15_000);
const page = await context.newPage();
watch(page);

let jobId = null;
let traceId = null;
let traceUrl = null;

await check(page, 'page loads and the event table has rows', async () => {
  const res = await page.goto(`${base}/`, { waitUntil: 'domcontentloaded' });
  assert(res && res.ok(), `GET ${base}/ answered ${res ? res.status() : 'nothing'}`);
  await until('rows in the event table', async () => (await rowsOf(page, 'event-table')).length > 0);
  await idle(page, 'events-view');
  const rows = await rowsOf(page, 'event-table');
  assert(await visible(page, tid('event-table')), 'the event table is not visible');
  const r = rows[0];
  assert(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/.test(r.time), `the first row's time cell shows "${r.time}"`);
  assert(TYPES.includes(r.type), `the first row's type cell shows "${r.type}"`);
  assert(['human', 'agent', 'system'].includes(r.actor), `the first row's actor cell shows "${r.actor}"`);
  assert(r.trace && r.id, 'the first row has no trace link or event id');
  assert(!(await visible(page, tid('error-banner'))), `the error banner shows: ${await page.textContent(tid('error-banner'))}`);
  const stats = (await page.textContent(tid('stats'))) || '';
  assert(/\d[\d,]* events/.test(stats), `the header shows no event count ("${stats}")`);
});

/** The JSON answer of a GET to the API. */
async function getJson(page, pathAndQuery) {
  const res = await page.request.get(`${base}${pathAndQuery}`);
  const text = await res.text();
  assert(res.ok(), `GET ${pathAndQuery} answered ${res.status()}: ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

/** Asserts the rows are in time order, newest first (`desc`) or oldest first. */
function assertOrder(rows, desc, what) {
  for (let i = 1; i < rows.length; i++) {
    const [a, b] = [tsMicros(rows[i - 1].ts), tsMicros(rows[i].ts)];
    assert(desc ? a >= b : a <= b, `${what}: row ${i} (${rows[i].ts}) is not ${desc ? 'older' : 'newer'} than row ${i - 1} (${rows[i - 1].ts})`);
  }
}

await check(page, 'newest first by default, the order kept in the URL', async () => {
  const newest = (await getJson(page, '/v1/events?order=desc&limit=1')).events[0];
  await page.goto(`${base}/`, { waitUntil: 'domcontentloaded' });
  await idle(page, 'events-view');
  const rows = await until('rows in the event table', async () => { const rs = await rowsOf(page, 'event-table'); return rs.length > 1 ? rs : false; });
  assertOrder(rows, true, 'the default table');
  assert(tsMicros(rows[0].ts) >= tsMicros(newest.timestamp), `the first row (${rows[0].ts}) is older than the newest event before the page loaded (${newest.timestamp})`);
  assert(/newest first/.test(await page.textContent(tid('table-caption'))), 'the caption does not say "newest first"');
  assert((await page.inputValue(tid('filter-order'))) === 'desc', 'the order switch does not show newest first');
  await page.screenshot({ path: path.join(shotDir, 'table-newest-first.png') });
  // Oldest first: chosen, written into the URL, kept by a reload.
  await page.selectOption(tid('filter-order'), 'asc');
  await until('order=asc in the URL', async () => page.url().includes('order=asc'));
  await idle(page, 'events-view');
  const oldest = (await getJson(page, '/v1/events?order=asc&limit=1')).events[0];
  const asc = await until('the table oldest first', async () => { const rs = await rowsOf(page, 'event-table'); return rs.length > 1 && rs[0].id === oldest.event_id ? rs : false; });
  assertOrder(asc, false, 'the table oldest first');
  await page.reload({ waitUntil: 'domcontentloaded' });
  await idle(page, 'events-view');
  await until('the oldest event first after a reload', async () => ((await rowsOf(page, 'event-table'))[0] || {}).id === oldest.event_id);
  assert((await page.inputValue(tid('filter-order'))) === 'asc', 'after a reload the order switch does not show oldest first');
  // Back to the default: it leaves the URL, and a reload shows newest first again.
  await page.selectOption(tid('filter-order'), 'desc');
  await until('order= to leave the URL', async () => !page.url().includes('order='));
  await page.reload({ waitUntil: 'domcontentloaded' });
  await idle(page, 'events-view');
  const again = await until('rows after the reload', async () => { const rs = await rowsOf(page, 'event-table'); return rs.length > 1 ? rs : false; });
  assertOrder(again, true, 'the table after a reload');
  assert(tsMicros(again[0].ts) >= tsMicros(rows[0].ts), 'after a reload the first row is older than before');
});

// ---------------------------------------------------------------- overview and jobs list

/** Waits for the overview and returns its query and GET /v1/summary's answer to it. */
async function overviewSummary(page) {
  await until('the overview histogram', async () => visible(page, `${tid('overview')} ${tid('histogram')}`));
  await until('the overview to finish loading', async () => page.$eval(tid('overview'), (el) => !el.hasAttribute('aria-busy')));
  const query = await page.getAttribute(tid('overview'), 'data-query');
  assert(query && query.includes('from=') && query.includes('to='), `the overview names no range: "${query}"`);
  return { query, summary: await getJson(page, `/v1/summary?${query}`) };
}

/** The histogram's bars as drawn: total, segments and where to click them. */
async function histogramBars(page) {
  return page.$$eval(`${tid('histogram')} ${tid('histogram-bar')}`, (gs) => gs.map((g) => {
    const hit = g.querySelector('rect.hit').getBoundingClientRect();
    const segs = [...g.querySelectorAll('[data-type]')].map((r) => {
      const b = r.getBoundingClientRect();
      return { type: r.dataset.type, count: Number(r.dataset.count), x: b.left + b.width / 2, y: b.top + b.height / 2, top: b.top, height: b.height };
    });
    return {
      index: Number(g.dataset.index), total: Number(g.dataset.total), x: hit.left + hit.width / 2, top: hit.top,
      free: Math.min(hit.bottom, ...segs.map((s) => s.top)) - hit.top, segs,
    };
  }));
}

const isoSec = (ms) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');

/** The [from, to) of bucket `i` of a summary, as the UI writes them. */
function bucketRange(summary, i) {
  const start = Date.parse(summary.buckets[i].start);
  return { from: isoSec(start), to: isoSec(start + summary.bucket_seconds * 1000) };
}

/** Waits until the table shows only rows in [from, to) matching `pred`; returns them. */
async function rowsIn(page, { from, to }, pred = () => true, what = '') {
  await until(`the URL to carry from=${from} and to=${to}`, async () => {
    const u = new URL(page.url());
    const p = new URLSearchParams(u.hash.slice(1));
    return p.get('from') === from && p.get('to') === to;
  });
  await idle(page, 'events-view');
  const [lo, hi] = [tsMicros(from), tsMicros(to)];
  return until(`rows between ${from} and ${to}${what}`, async () => {
    const rs = await rowsOf(page, 'event-table');
    return rs.length > 0 && rs.every((r) => tsMicros(r.ts) >= lo && tsMicros(r.ts) < hi && pred(r)) ? rs : false;
  });
}

await check(page, 'the overview histogram has one bar per /v1/summary bucket', async () => {
  await page.goto(`${base}/`, { waitUntil: 'domcontentloaded' });
  const { summary } = await overviewSummary(page);
  const bars = await histogramBars(page);
  assert(bars.length === summary.buckets.length, `the histogram draws ${bars.length} bars; /v1/summary has ${summary.buckets.length} buckets`);
  assert(summary.buckets.length > 1, `the summary has ${summary.buckets.length} bucket(s)`);
  // The newest bucket may still be growing (the demo keeps recording); every other one is exact.
  for (const [i, b] of summary.buckets.slice(0, -1).entries()) {
    const count = Object.values(b.counts).reduce((n, c) => n + c, 0);
    assert(bars[i].total === count, `bar ${i} (${b.start}) shows ${bars[i].total} events; its bucket has ${count}`);
    for (const [type, n] of Object.entries(b.counts)) {
      const seg = bars[i].segs.find((s) => s.type === type);
      assert(seg && seg.count === n, `bar ${i} (${b.start}) shows ${seg ? seg.count : 'no'} ${type}; its bucket has ${n}`);
    }
  }
  assert(bars.some((b) => b.total > 0), 'every bar is empty');
  // The demo exercises every part of the overview, and the page shows each one.
  const shown = async (testid) => (await page.$$(`${tid('overview')} ${tid(testid)}`)).length;
  assert(summary.models.length > 0 && (await shown('model-row')) === summary.models.length, `${await shown('model-row')} model rows for ${summary.models.length} models`);
  assert(summary.tools.some((t) => t.failures > 0), 'no tool failed in the demo data');
  assert((await shown('tool-row')) === summary.tools.length, `${await shown('tool-row')} tool rows for ${summary.tools.length} tools`);
  assert(summary.capabilities.some((c) => c.deny > 0), 'no capability was denied in the demo data');
  assert((await shown('capability-row')) === summary.capabilities.length, 'not every capability has a row');
  assert(summary.failed_jobs.length > 0, 'no job failed in the demo data');
  assert((await shown('failed-jobs-row')) === Math.min(5, summary.failed_jobs.length), 'the failed jobs are not listed');
  const firstFailed = await page.getAttribute(`${tid('failed-jobs-row')} ${tid('job-link')}`, 'data-id');
  assert(firstFailed === summary.failed_jobs[0].job_id, `the first failed job shown is ${firstFailed}, not ${summary.failed_jobs[0].job_id}`);
  await page.screenshot({ path: path.join(shotDir, 'overview.png') });
});

/**
 * Back to the page of all time (no range in the URL); returns its overview once that shows
 * all time again (not a late answer for the range just left): the `from` of `all`, its `to`
 * or later (all time ends now).
 */
async function backToAllTime(page, all) {
  await page.goBack();
  await until('the URL without a range', async () => !new URLSearchParams(new URL(page.url()).hash.slice(1)).has('from'));
  await idle(page, 'events-view');
  const want = new URLSearchParams(all.query);
  await until('the overview of all time again', async () => {
    const q = new URLSearchParams((await page.getAttribute(tid('overview'), 'data-query')) || '');
    return q.get('from') === want.get('from') && Date.parse(q.get('to')) >= Date.parse(want.get('to'));
  });
  return overviewSummary(page);
}

await check(page, 'a bar, a segment and a drag filter the table to their range', async () => {
  await page.goto(`${base}/`, { waitUntil: 'domcontentloaded' });
  const all = await overviewSummary(page);
  const { summary } = all;
  const limit = 100;
  let bars = await histogramBars(page);
  const inner = bars.slice(0, -1);
  // A bar: clicked above its segments (on a segment the click also filters by type).
  const bar = inner.find((b) => b.total > 0 && b.free > 4);
  assert(bar, 'no bar with events has room above its segments to click');
  await page.mouse.click(bar.x, bar.top + 2);
  const range = bucketRange(summary, bar.index);
  const rows = await rowsIn(page, range);
  assert(rows.length === Math.min(bar.total, limit), `the table shows ${rows.length} rows for a bar of ${bar.total} events`);
  assert((await page.inputValue(tid('filter-from'))) === range.from, 'the From field does not show the bar\'s start');
  assert(!new URL(page.url()).hash.includes('type='), 'clicking above the segments filtered by a type');
  // One type's segment of a bar: that type only.
  await backToAllTime(page, all);
  bars = await histogramBars(page);
  const withSeg = bars.slice(0, -1).find((b) => b.segs.some((s) => s.height > 4 && s.type !== 'llm_inference'));
  assert(withSeg, 'no segment is tall enough to click');
  const seg = withSeg.segs.find((s) => s.height > 4 && s.type !== 'llm_inference');
  await page.mouse.click(seg.x, seg.y);
  const segRows = await rowsIn(page, bucketRange(summary, withSeg.index), (r) => r.type === seg.type, ` of type ${seg.type}`);
  assert(segRows.length === Math.min(seg.count, limit), `the table shows ${segRows.length} rows for a ${seg.type} segment of ${seg.count}`);
  // A drag across bars zooms to the range they cover. On a loaded machine the URL and the
  // redraw can take long: wait for them (well inside the check's bound), not a fixed time.
  const again = await backToAllTime(page, all);
  bars = await histogramBars(page);
  const [a, b] = [bars[1], bars[Math.min(bars.length - 2, 4)]];
  await page.mouse.move(a.x, a.top + 5);
  await page.mouse.down();
  await page.mouse.move(b.x, b.top + 5, { steps: 6 });
  await page.mouse.up();
  const zoomed = { from: bucketRange(again.summary, a.index).from, to: bucketRange(again.summary, b.index).to };
  await until('the URL to carry the dragged range', async () => {
    const p = new URLSearchParams(new URL(page.url()).hash.slice(1));
    return p.get('from') === zoomed.from && p.get('to') === zoomed.to;
  }, DRAG_WAIT_MS);
  await until('the overview to redraw for the dragged range', async () => {
    const q = await page.getAttribute(tid('overview'), 'data-query');
    return !(await page.$eval(tid('overview'), (el) => el.hasAttribute('aria-busy'))) && q.includes(`from=${encodeURIComponent(zoomed.from)}`);
  }, DRAG_WAIT_MS);
});

/**
 * Clicks the overview row `rowTestId` whose `data-<attr>` is `id` and waits for the URL to
 * carry `param=id` and the table to show only rows of `type` matching `pred`; returns them.
 */
async function clickOverviewRow(page, rowTestId, attr, param, id, type, pred) {
  await page.click(`${tid(rowTestId)}[data-${attr}="${id}"] td.num`);
  await until(`${param}=${id} in the URL`, async () => new URLSearchParams(new URL(page.url()).hash.slice(1)).get(param) === id);
  await idle(page, 'events-view');
  return until(`${type} rows of ${id} only`, async () => {
    const rs = await rowsOf(page, 'event-table');
    return rs.length > 0 && rs.every((r) => r.type === type && pred(r)) ? rs : false;
  });
}

await check(page, 'a model row filters the table to that model\'s llm_inference events', async () => {
  await page.goto(`${base}/`, { waitUntil: 'domcontentloaded' });
  const { summary } = await overviewSummary(page);
  const model = summary.models[summary.models.length - 1];
  assert(model, 'the summary lists no model');
  const rows = await clickOverviewRow(page, 'model-row', 'model-id', 'model_id', model.model_id, 'llm_inference', (r) => r.summary.startsWith(`${model.model_id} ·`));
  assert(rows.length === Math.min(model.calls, 100), `the table shows ${rows.length} rows of a model with ${model.calls} calls in the range`);
  assert((await page.inputValue(tid('filter-model'))) === model.model_id, 'the Model field does not show the model');
  assert((await page.inputValue(tid('filter-type'))) === 'llm_inference', 'the Type field does not show llm_inference');
});

await check(page, 'a tool row filters the table to that tool\'s tool_call events', async () => {
  await page.goto(`${base}/`, { waitUntil: 'domcontentloaded' });
  const { summary } = await overviewSummary(page);
  const tool = summary.tools.find((t) => t.calls > 0);
  assert(tool, 'the summary lists no tool with calls');
  const ofTool = (r) => r.summary.split(' · ')[0].replace(/@.*$/, '') === tool.tool_id;
  const rows = await clickOverviewRow(page, 'tool-row', 'tool-id', 'tool_id', tool.tool_id, 'tool_call', ofTool);
  assert(rows.length >= Math.min(tool.calls, 100), `the table shows ${rows.length} rows of a tool with ${tool.calls} calls in the range`);
  assert((await page.inputValue(tid('filter-tool'))) === tool.tool_id, 'the Tool field does not show the tool');
  // The filter is cleared like any other: Reset shows every type again.
  await page.click(tid('filter-reset'));
  await until('tool_id= to leave the URL', async () => !new URLSearchParams(new URL(page.url()).hash.slice(1)).has('tool_id'));
  await idle(page, 'events-view');
  await until('rows of other types after Reset', async () => (await rowsOf(page, 'event-table')).some((r) => r.type !== 'tool_call'));
});

await check(page, 'the jobs list opens a job', async () => {
  await page.goto(`${base}/`, { waitUntil: 'domcontentloaded' });
  await page.click(tid('nav-jobs'));
  await until('the jobs list', async () => visible(page, tid('jobs-table')));
  await idle(page, 'jobs-view');
  assert(page.url().includes('view=jobs'), `the URL does not name the jobs list: ${page.url()}`);
  const query = await page.getAttribute(tid('jobs-view'), 'data-query');
  const answer = await getJson(page, `/v1/jobs?${query}`);
  const rows = await page.$$eval(tid('jobs-row'), (rs) => rs.map((r) => ({ id: r.dataset.jobId, status: r.dataset.status, cells: [...r.cells].map((c) => c.textContent.trim()) })));
  assert(rows.length > 0, 'the jobs list is empty');
  const known = new Map(answer.jobs.map((j) => [j.job_id, j]));
  for (const r of rows) assert(known.has(r.id), `job ${r.id} is listed but GET /v1/jobs does not answer it`);
  // Jobs of the seeded history (the live demo's jobs are still growing): shown as the API says.
  const settled = Date.parse(new URLSearchParams(query).get('to')) - 3600e3;
  const compared = rows.filter((r) => Date.parse(known.get(r.id).started_at) < settled).slice(0, 30);
  assert(compared.length >= 5, `only ${compared.length} jobs of the seeded history are listed`);
  for (const r of compared) {
    const j = known.get(r.id);
    assert(r.status === j.status && r.cells[2] === j.status, `job ${r.id} is shown ${r.cells[2]}; the API says ${j.status}`);
    assert(r.cells[6] === j.events.toLocaleString('en-US'), `job ${r.id} shows ${r.cells[6]} events; the API says ${j.events}`);
    assert(r.cells[7] === j.models.join(', '), `job ${r.id} shows models "${r.cells[7]}"; the API says ${j.models.join(', ')}`);
  }
  const starts = answer.jobs.map((j) => tsMicros(j.started_at));
  assert(starts.every((t, i) => i === 0 || starts[i - 1] >= t), 'GET /v1/jobs is not newest first');
  await page.screenshot({ path: path.join(shotDir, 'jobs.png') });
  // Failed only, then one of them opens in the job view.
  await page.click(tid('jobs-status-failed'));
  await until('failed jobs only', async () => {
    const st = await page.$$eval(tid('jobs-row'), (rs) => rs.map((r) => r.dataset.status));
    return st.length > 0 && st.every((s) => s === 'failed') && page.url().includes('status=failed');
  });
  const id = await page.getAttribute(`${tid('jobs-row')}:last-child`, 'data-job-id');
  await page.click(`${tid('jobs-row')}:last-child td:nth-child(2)`);
  await until('the job view', async () => visible(page, tid('job-view')));
  await idle(page, 'job-view');
  const shownId = ((await page.textContent(`${tid('job-view')} ${tid('job-id')}`)) || '').trim();
  assert(shownId === id, `the job view shows ${shownId}, not the clicked ${id}`);
  assert(((await page.textContent(`${tid('job-view')} ${tid('job-status')}`)) || '').trim() === 'failed', 'the job view does not say the job failed');
  await page.screenshot({ path: path.join(shotDir, 'job.png') });
  await page.goBack();
  await until('the failed jobs list again', async () => visible(page, tid('jobs-table')));
});

await check(page, 'filter by job', async () => {
  // A job of the seeded history: the live demo keeps adding events to the newest jobs.
  const first = (await getJson(page, '/v1/events?order=asc&limit=50')).events.find((e) => e.job_id);
  assert(first, 'none of the oldest 50 events has a job id');
  jobId = first.job_id;
  await page.fill(tid('filter-job'), jobId);
  await page.click(tid('filter-apply'));
  await until('the URL to carry the job filter', async () => page.url().includes(encodeURIComponent(jobId)));
  await idle(page, 'events-view');
  const shown = await until(`rows of job ${jobId} only`, async () => {
    const rs = await rowsOf(page, 'event-table');
    return rs.length > 0 && rs.every((r) => r.job === jobId) ? rs : false;
  });
  const caption = await page.textContent(tid('table-caption'));
  assert(caption.includes(jobId), `the table caption does not name the job: "${caption}"`);
  // The URL is the state: a reload keeps the filter and the same rows.
  await page.reload({ waitUntil: 'domcontentloaded' });
  await until('rows after the reload', async () => (await rowsOf(page, 'event-table')).length > 0);
  assert((await page.inputValue(tid('filter-job'))) === jobId, 'the job filter input is empty after a reload');
  const again = await rowsOf(page, 'event-table');
  assert(again.every((r) => r.job === jobId), 'after a reload, rows of other jobs are shown');
  assert(again.length === shown.length, `after a reload ${again.length} rows are shown instead of ${shown.length}`);
});

await check(page, 'open a trace with a tool_call span', async () => {
  await page.fill(tid('filter-job'), '');
  await page.selectOption(tid('filter-type'), 'tool_call'); // applies on change
  await until('tool_call rows only', async () => {
    const rs = await rowsOf(page, 'event-table');
    return rs.length > 0 && rs.every((r) => r.type === 'tool_call') && !page.url().includes('job_id=');
  });
  const link = await page.$(`${tid('event-table')} ${tid('event-row')} [data-col="trace"] a`);
  traceId = await link.getAttribute('data-id');
  await link.click();
  await until('the trace view', async () => visible(page, tid('trace-view')));
  await idle(page, 'trace-view');
  const shownId = (await page.textContent(`${tid('trace-view')} ${tid('trace-id')}`)).trim();
  assert(shownId === traceId, `the trace view shows trace "${shownId}", not the clicked "${traceId}"`);
  assert(!(await visible(page, tid('event-table'))), 'the event table is still shown over the trace view');
  const spans = await page.$$eval(`${tid('trace-view')} ${tid('span-row')}`, (rs) => rs.filter((r) => r.offsetParent !== null).map((r) => ({
    kind: r.dataset.kind, id: r.dataset.spanId, parent: r.dataset.parentSpanId || null, depth: Number(r.dataset.depth), text: r.textContent,
  })));
  assert(spans.length > 0, 'the trace view shows no span row');
  const tool = spans.find((s) => s.kind === 'tool_call');
  assert(tool, `no tool_call span is shown (kinds: ${[...new Set(spans.map((s) => s.kind))].join(', ')})`);
  assert(tool.text.includes('tool_call'), `the tool_call span row does not say so: "${tool.text}"`);
  assert(await visible(page, `${tid('span-row')}[data-kind="tool_call"] .bar`), 'the tool_call span has no bar on the timeline');
  // Parent/child: a span whose parent is in the trace is drawn under it, indented.
  for (const s of spans) {
    const parent = s.parent && spans.find((p) => p.id === s.parent);
    if (parent) assert(s.depth > parent.depth, `span ${s.id} is not indented under its parent ${parent.id}`);
  }
  const markers = await page.$$(`${tid('trace-view')} ${tid('event-marker')}`);
  assert(markers.length > 0, 'the timeline shows no event marker');
  traceUrl = page.url();
  assert(traceUrl.includes(encodeURIComponent(traceId)) || traceUrl.includes(traceId), `the URL does not name the trace: ${traceUrl}`);
});

await check(page, 'open an event detail', async () => {
  assert(await visible(page, tid('trace-view')), 'needs the trace view of the previous check');
  const row = (await page.$(`${tid('trace-events')} ${tid('event-row')}[data-type="tool_call"]`)) || (await page.$(`${tid('trace-events')} ${tid('event-row')}`));
  assert(row, 'the trace view lists no event rows');
  const id = await row.getAttribute('data-event-id');
  await row.click();
  await until('the detail pane', async () => visible(page, tid('detail-pane')));
  await until(`the detail of event ${id}`, async () => ((await page.textContent(`${tid('detail-pane')} ${tid('detail-event-id')}`).catch(() => '')) || '').trim() === id);
  const paneText = await page.textContent(tid('detail-pane'));
  assert(paneText.includes(id), 'the detail pane does not show the event id');
  const payloadText = await page.textContent(`${tid('detail-pane')} ${tid('detail-payload')}`);
  let payload;
  try {
    payload = JSON.parse(payloadText);
  } catch (e) {
    throw new Error(`the payload shown is not JSON: ${payloadText.slice(0, 200)}`);
  }
  assert(payload && typeof payload === 'object' && Object.keys(payload).length > 0, 'the payload shown is empty');
  assert(/\n {2}"/.test(payloadText), 'the payload JSON is not pretty-printed (indented)');
  const type = await row.getAttribute('data-type');
  if (type === 'tool_call') assert('tool_call_id' in payload && 'tool_id' in payload, 'the tool_call payload lacks tool_call_id/tool_id');
  assert(await visible(page, `${tid('detail-pane')} ${tid('detail-trace-link')}`), 'the detail pane has no link to its trace');
  const redacted = await row.evaluate((r) => !!r.querySelector('[data-testid="redacted-badge"]'));
  if (redacted) assert(await visible(page, `${tid('detail-pane')} ${tid('redacted-badge')}`), 'a redacted event shows no redacted badge in the detail');
  assert(page.url().includes(`event=${id}`), 'the URL does not name the open event');
});

await check(page, 'job-nightly-reindex shows the retention notice', async () => {
  await page.goto(`${base}/#view=job&id=job-nightly-reindex`, { waitUntil: 'domcontentloaded' });
  await until('the job view', async () => visible(page, tid('job-view')));
  await idle(page, 'job-view');
  const jobText = (await page.textContent(`${tid('job-view')} ${tid('job-id')}`).catch(() => '')) || '';
  assert(jobText.trim() === 'job-nightly-reindex', `the job view shows "${jobText}" (is the job in the demo data?)`);
  const notice = `${tid('job-view')} ${tid('retention-notice')}`;
  assert(await visible(page, notice), 'the job view shows no retention notice');
  assert(/retention/i.test(await page.textContent(notice)), 'the job retention notice does not mention retention');
  assert(await visible(page, `${tid('job-view')} ${tid('job-status')}`), 'the job view shows no status');
  const traces = await page.$$eval(`${tid('job-view')} ${tid('job-traces')} ${tid('trace-link')}`, (as) => as.map((a) => a.dataset.id));
  assert(traces.length > 0, 'the job view lists no traces');
  let found = null;
  for (const t of traces.slice(0, 25)) {
    await page.click(`${tid('job-view')} ${tid('job-traces')} ${tid('trace-link')}[data-id="${t}"]`);
    await until('the trace view', async () => visible(page, tid('trace-view')));
    await idle(page, 'trace-view');
    const tnotice = `${tid('trace-view')} ${tid('retention-notice')}`;
    if ((await visible(page, tnotice)) && /retention/i.test(await page.textContent(tnotice))) {
      found = t;
      break;
    }
    await page.goBack();
    await until('the job view again', async () => visible(page, tid('job-view')));
  }
  assert(found, `none of the job's ${traces.length} trace views shows a retention notice`);
});

await check(page, 'reload the shared URL of a trace', async () => {
  assert(traceUrl && traceId, 'needs the trace URL from the trace check');
  const shared = await context.newPage();
  watch(shared);
  try {
    await shared.setViewportSize({ width: 1440, height: 900 });
    await shared.goto(traceUrl, { waitUntil: 'domcontentloaded' });
    await until('the trace view from the shared URL', async () => visible(shared, tid('trace-view')));
    await idle(shared, 'trace-view');
    const shown = (await shared.textContent(`${tid('trace-view')} ${tid('trace-id')}`)).trim();
    assert(shown === traceId, `the shared URL opened trace "${shown}", not "${traceId}"`);
    await shared.reload({ waitUntil: 'domcontentloaded' });
    await until('the trace view after a reload', async () => visible(shared, tid('trace-view')));
    await idle(shared, 'trace-view');
    const again = (await shared.textContent(`${tid('trace-view')} ${tid('trace-id')}`)).trim();
    assert(again === traceId, `after a reload the page shows trace "${again}"`);
    const spans = await shared.$$(`${tid('trace-view')} ${tid('span-row')}`);
    assert(spans.length > 0, 'the reloaded trace view shows no span');
    await shared.screenshot({ path: path.join(shotDir, `${String(checkNo).padStart(2, '0')}-shared-page.png`) });
  } finally {
    await shared.close();
  }
  await page.goto(traceUrl, { waitUntil: 'domcontentloaded' }); // for this check's screenshot
  await until('the trace view', async () => visible(page, tid('trace-view')));
  await idle(page, 'trace-view');
});

await check(page, 'live tail shows new events', async () => {
  await page.goto(`${base}/`, { waitUntil: 'domcontentloaded' });
  await until('rows in the event table', async () => (await rowsOf(page, 'event-table')).length > 0);
  const stats = await (await page.request.get(`${base}/v1/stats`)).json();
  assert(stats.newest, `GET /v1/stats has no newest timestamp: ${JSON.stringify(stats)}`);
  const baseline = tsMicros(stats.newest);
  await page.click(tid('live-toggle'));
  assert((await page.getAttribute(tid('live-toggle'), 'aria-pressed')) === 'true', 'the live toggle does not show as on');
  const started = Date.now();
  const newer = await until(`a row newer than ${stats.newest} (the newest event when the tail started)`, async () => {
    const rs = (await rowsOf(page, 'event-table')).filter((r) => tsMicros(r.ts) > baseline);
    return rs.length ? rs : false;
  }, LIVE_WAIT_MS, 200);
  console.log(`     ${newer.length} new event(s) shown ${Date.now() - started} ms after the toggle`);
  assert(page.url().includes('live=1'), 'the URL does not record the live tail');
  const rows = await rowsOf(page, 'event-table');
  for (let i = 1; i < rows.length; i++) {
    assert(tsMicros(rows[i - 1].ts) >= tsMicros(rows[i].ts), 'the live rows are not newest first');
  }
  // Pause: the table holds still while the demo goes on recording.
  await page.click(tid('live-pause'));
  await sleep(1500); // a poll in flight may still land
  const held = (await rowsOf(page, 'event-table')).map((r) => r.id).join();
  await sleep(3000);
  const after = (await rowsOf(page, 'event-table')).map((r) => r.id).join();
  assert(held === after, 'rows kept arriving while the tail was paused');
  await page.click(tid('live-pause')); // resume
  await page.screenshot({ path: path.join(shotDir, `${String(checkNo).padStart(2, '0')}-live-resumed.png`) });
  await page.click(tid('live-toggle')); // off: back to the paged table
  await until('the paged table after the tail', async () => visible(page, tid('next-page')));
});

await check(page, 'an invalid filter shows the error banner', async () => {
  await page.goto(`${base}/#range=custom&from=not-a-time`, { waitUntil: 'domcontentloaded' });
  await until('the error banner', async () => visible(page, tid('error-banner')));
  const text = await page.textContent(tid('error-banner'));
  assert(/HSK-/.test(text) && /from/.test(text), `the banner does not name the code and the field: "${text.trim()}"`);
  // Fixing the filter clears it.
  await page.selectOption(tid('filter-range'), 'all');
  await until('the banner to go away', async () => !(await visible(page, tid('error-banner'))));
  await until('rows again', async () => (await rowsOf(page, 'event-table')).length > 0);
});

// An OpenTelemetry trace, exported over the real OTLP/HTTP path (OTLP/JSON): an agent run
// whose plain spans are recorded as `span` events, a tool call under it, and a log record.
const OTEL_TRACE_HEX = 'f1e2d3c4b5a697887766554433221100';
const OTEL_TRACE_ID = 'f1e2d3c4-b5a6-9788-7766-554433221100';
const OTEL_SPANS = { agent: 'a1a1a1a1a1a1a1a1', retrieve: 'b2b2b2b2b2b2b2b2', query: 'c3c3c3c3c3c3c3c3', tool: 'd4d4d4d4d4d4d4d4' };

function otelBodies() {
  const t0 = BigInt(Date.now() - 60_000) * 1_000_000n;
  const at = (ms) => String(t0 + BigInt(ms) * 1_000_000n);
  const str = (key, v) => ({ key, value: { stringValue: v } });
  const span = (id, parent, name, from, to, attributes = [], kind = 1) => ({
    traceId: OTEL_TRACE_HEX, spanId: OTEL_SPANS[id], ...(parent ? { parentSpanId: OTEL_SPANS[parent] } : {}),
    name, kind, startTimeUnixNano: at(from), endTimeUnixNano: at(to), attributes,
  });
  const resource = { attributes: [str('service.name', 'ui-test-agent')] };
  const traces = { resourceSpans: [{ resource, scopeSpans: [{ scope: { name: 'ui.test' }, spans: [
    span('agent', null, 'invoke_agent planner', 0, 4000, [str('gen_ai.operation.name', 'invoke_agent'), str('gen_ai.agent.name', 'planner')]),
    span('retrieve', 'agent', 'retrieve_documents', 200, 1500),
    span('query', 'retrieve', 'SELECT docs', 300, 900, [str('db.system', 'postgresql')], 3),
    span('tool', 'agent', 'execute_tool search', 1600, 3000, [str('gen_ai.operation.name', 'execute_tool'), str('gen_ai.tool.name', 'search'), str('gen_ai.tool.call.id', 'call-ui-otel-1')]),
  ] }] }] };
  const logs = { resourceLogs: [{ resource, scopeLogs: [{ scope: { name: 'ui.test' }, logRecords: [{
    timeUnixNano: at(1000), severityNumber: 9, severityText: 'INFO', body: { stringValue: 'retrieved 3 documents for the planner' },
    traceId: OTEL_TRACE_HEX, spanId: OTEL_SPANS.retrieve, attributes: [str('doc.count', '3')],
  }] }] }] };
  return { traces, logs };
}

await check(page, 'an OpenTelemetry trace shows its span and log events', async () => {
  const { traces, logs } = otelBodies();
  for (const [route, body] of [['/v1/traces', traces], ['/v1/logs', logs]]) {
    const res = await page.request.post(`${base}${route}`, { data: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
    const text = await res.text();
    assert(res.ok(), `POST ${route} answered ${res.status()}: ${text}`);
    assert(!/rejected[A-Za-z]*":\s*"?[1-9]/.test(text), `POST ${route} rejected part of the export: ${text}`);
  }
  // The type filter offers the OpenTelemetry extension types.
  await page.goto(`${base}/`, { waitUntil: 'domcontentloaded' });
  const offered = await page.$$eval(`${tid('filter-type')} option`, (os) => os.map((o) => o.value || o.textContent.trim()));
  for (const t of ['span', 'log']) assert(offered.includes(t), `the type filter does not offer "${t}" (offers ${offered.join(', ')})`);
  await page.selectOption(tid('filter-type'), 'log');
  await until('a log row of the OpenTelemetry trace in the filtered table', async () => {
    const rs = await rowsOf(page, 'event-table');
    return rs.length > 0 && rs.every((r) => r.type === 'log') && rs.some((r) => r.trace === OTEL_TRACE_ID);
  });

  await page.goto(`${base}/#view=trace&id=${OTEL_TRACE_ID}`, { waitUntil: 'domcontentloaded' });
  await until('the trace view', async () => visible(page, tid('trace-view')));
  await idle(page, 'trace-view');
  const shownId = (await page.textContent(`${tid('trace-view')} ${tid('trace-id')}`)).trim();
  assert(shownId === OTEL_TRACE_ID, `the trace view shows trace "${shownId}"`);
  const rows = await page.$$eval(`${tid('trace-view')} ${tid('span-row')}`, (rs) => rs.filter((r) => r.offsetParent !== null).map((r) => ({
    kind: r.dataset.kind, id: r.dataset.spanId, parent: r.dataset.parentSpanId || null, depth: Number(r.dataset.depth),
    label: (r.querySelector('.tl-label')?.textContent || '').trim(), index: [...r.parentNode.children].indexOf(r),
  })));
  const row = (id, name) => {
    const r = rows.find((x) => x.id === id);
    assert(r, `the span tree has no row for span ${id} (${name}); rows: ${rows.map((x) => `${x.kind}:${x.id}`).join(', ')}`);
    assert(r.label.includes(name), `span ${id}'s row does not name it "${name}": "${r.label}"`);
    return r;
  };
  const agent = row(OTEL_SPANS.agent, 'invoke_agent planner');
  const retrieve = row(OTEL_SPANS.retrieve, 'retrieve_documents');
  const query = row(OTEL_SPANS.query, 'SELECT docs');
  const tool = row('call-ui-otel-1', 'search');
  assert(tool.kind === 'tool_call', `the execute_tool span is shown as "${tool.kind}", not tool_call`);
  assert(!rows.some((r) => r.id === OTEL_SPANS.tool), 'the execute_tool span has a second, unnamed row besides its tool_call row');
  // Each child is drawn after its parent, indented one level deeper, and names it.
  for (const [child, parent] of [[retrieve, agent], [query, retrieve], [tool, agent]]) {
    assert(child.parent === parent.id, `span ${child.id} names parent ${child.parent}, not ${parent.id}`);
    assert(child.depth === parent.depth + 1 && child.index > parent.index, `span ${child.id} (depth ${child.depth}, row ${child.index}) is not nested under ${parent.id} (depth ${parent.depth}, row ${parent.index})`);
  }
  assert(agent.depth === 0, `the root span invoke_agent is at depth ${agent.depth}`);
  assert(await visible(page, `${tid('span-row')}[data-span-id="${OTEL_SPANS.retrieve}"] .bar`), 'the retrieve_documents span has no bar');
  // The log record is one of the trace's events, and its detail shows the body.
  const types = await page.$$eval(`${tid('trace-events')} ${tid('event-row')}`, (rs) => rs.map((r) => r.dataset.type));
  for (const t of ['span', 'log', 'tool_call']) assert(types.includes(t), `the trace's event list has no ${t} event (types: ${types.join(', ')})`);
  await page.click(`${tid('trace-events')} ${tid('event-row')}[data-type="log"]`);
  await until('the log detail', async () => ((await page.textContent(`${tid('detail-pane')} ${tid('detail-payload')}`).catch(() => '')) || '').includes('retrieved 3 documents'));
  await page.screenshot({ path: path.join(shotDir, 'trace-otel.png'), fullPage: true });
});

await check(page, 'no uncaught script errors', async () => {
  assert(pageErrors.length === 0, `uncaught errors in the page:\n  ${pageErrors.join('\n  ')}`);
});

await browser.close();
clearTimeout(hardStop);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
