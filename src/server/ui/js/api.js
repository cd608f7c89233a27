// API client: the fetch wrapper for the same-origin /v1 API (with the access token the person
// entered), its error type, and the error banner that shows what went wrong (or asks for a
// token when the server wants one).

import { byTestId } from './dom.js';
import { normTime } from './format.js';
import { DEFAULT_LIMIT, DEFAULT_ORDER } from './url-state.js';

const TOKEN_KEY = 'flightrec.token';
const FIELD_INPUT = {
  job_id: 'filter-job', trace_id: 'filter-trace', model_id: 'filter-model', type: 'filter-type', actor: 'filter-actor',
  text: 'filter-text', from: 'filter-from', to: 'filter-to', limit: 'filter-limit', order: 'filter-order',
};

class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

export async function api(path) {
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

/** Query-string of GET /v1/events for the filters `f` (empty values are left out: the server rejects them). */
export function apiParams(f, extra) {
  const p = new URLSearchParams();
  for (const k of ['job_id', 'trace_id', 'model_id', 'tool_id', 'type', 'actor', 'text']) if (f[k]) p.set(k, f[k].trim());
  const from = normTime(f.from);
  const to = normTime(f.to);
  if (from) p.set('from', from);
  if (to) p.set('to', to);
  p.set('limit', f.limit || DEFAULT_LIMIT);
  p.set('order', f.order || DEFAULT_ORDER);
  for (const [k, v] of Object.entries(extra || {})) {
    if (v === null || v === undefined || v === '') p.delete(k);
    else p.set(k, v);
  }
  return p;
}

// ---------------------------------------------------------------- error banner and token

const banner = byTestId('error-banner');
const bannerText = byTestId('error-text');
const tokenForm = byTestId('token-form');
const authHooks = { asked: () => {}, tokenSet: () => {} };

/** What the rest of the page does when a token is asked for, and once one is entered. */
export function onAuth(hooks) {
  Object.assign(authHooks, hooks);
}

export function showError(err) {
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

export function clearError() {
  if (!tokenForm.hidden) return; // still waiting for a token
  banner.hidden = true;
  bannerText.textContent = '';
  markField(null);
}

/** Clears the banner when it shows a network error (the server answers again). */
export function clearNetworkError() {
  if (!banner.hidden && tokenForm.hidden && bannerText.textContent.startsWith('NETWORK')) clearError();
}

let tokenAsked = false;
export function askToken() {
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
  authHooks.asked();
}

tokenForm.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const token = tokenForm.elements.token.value.trim();
  if (!token) return;
  sessionStorage.setItem(TOKEN_KEY, token);
  tokenForm.elements.token.value = '';
  tokenForm.hidden = true;
  clearError();
  authHooks.tokenSet();
});

byTestId('error-close').addEventListener('click', () => {
  tokenForm.hidden = true;
  clearError();
});
