// The totals in the top bar (events, compacted, in the WAL, oldest and newest).

import { api, askToken } from './api.js';
import { byTestId } from './dom.js';
import { fmtNum, fmtTs } from './format.js';

const statsEl = byTestId('stats');

/** Shows /v1/stats and returns it (null when it could not be had). */
export async function loadStats() {
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
