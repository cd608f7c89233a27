// The time range the overview and the jobs list summarise: the filter bar's from/to; without a
// `from` ("all", or only a `to`), from the oldest event recorded; without a `to`, up to now.

import { api } from './api.js';
import { isoSeconds, normTime, tsMs } from './format.js';

const DAY_MS = 86400e3;
/** The longest range /v1/summary and /v1/jobs answer (a longer "all" is cut to its newest part). */
const MAX_SPAN_MS = 400 * DAY_MS;

/** `{ from, to }` as whole-second RFC 3339 times for the filters `f`. */
export async function summaryRange(f) {
  const to = normTime(f.to) || isoSeconds(Math.ceil(Date.now() / 1000) * 1000);
  let from = normTime(f.from);
  if (!from) {
    const stats = await api('/v1/stats');
    from = stats.oldest ? isoSeconds(Math.floor(tsMs(stats.oldest) / 1000) * 1000) : '';
  }
  if (Number.isNaN(tsMs(to)) || Number.isNaN(tsMs(from || to))) return { from, to }; // the server names the bad field
  if (!from || !(tsMs(from) < tsMs(to))) from = isoSeconds(tsMs(to) - DAY_MS);
  if (!f.from && tsMs(to) - tsMs(from) > MAX_SPAN_MS) from = isoSeconds(tsMs(to) - MAX_SPAN_MS);
  return { from, to };
}

/** Query parameters of /v1/summary or /v1/jobs for a range and the filters that apply. */
export function rangeParams(range, f, keys) {
  const p = new URLSearchParams({ from: range.from, to: range.to });
  for (const k of keys) if (f[k]) p.set(k, f[k].trim());
  return p;
}

/** "2026-11-29 10:00 → 2026-11-30 10:00 UTC" (seconds shown only when they are not zero). */
export function describeRange(r) {
  const t = (s) => (s || '').replace('T', ' ').replace(/(:00)?(\.\d+)?Z$/, '').replace(/(\d\d:\d\d:\d\d).*$/, '$1');
  return `${t(r.from)} → ${t(r.to)} UTC`;
}
