// Formatting of ids, timestamps (always UTC), durations and numbers.

import { h } from './dom.js';

export function short(id, n = 8) {
  if (!id) return '';
  return id.length <= n + 1 ? id : id.slice(0, n) + '…';
}

/** Milliseconds since the epoch, keeping the microseconds as a fraction. */
export function tsMs(s) {
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

export function fmtTs(s) {
  const [d, t] = splitTs(s);
  return `${d} ${t}`.trim();
}

export function timeCell(s) {
  const [d, t] = splitTs(s);
  return [h('span', { class: 'ts-date' }, d + ' '), t];
}

export function fmtDur(ms) {
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

export const fmtNum = (n) => (typeof n === 'number' ? n.toLocaleString('en-US') : String(n ?? '?'));

const COMPACT = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 });
/** 2596214 -> "2.6M" (where the exact number is in a title beside it). */
export const fmtCompact = (n) => (typeof n === 'number' ? COMPACT.format(n) : String(n ?? '?'));

/** A time typed by a person: a date, or a date and time without an offset, is taken as UTC. */
export function normTime(s) {
  let v = (s || '').trim();
  if (!v) return '';
  v = v.replace(/^(\d{4}-\d\d-\d\d) (\d)/, '$1T$2');
  if (/^\d{4}-\d\d-\d\d$/.test(v)) return v + 'T00:00:00Z';
  if (/^\d{4}-\d\d-\d\dT\d\d:\d\d$/.test(v)) return v + ':00Z';
  if (/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?$/.test(v)) return v + 'Z';
  return v; // anything else goes to the server as typed; it names the field if it is wrong
}

export const isoSeconds = (ms) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
