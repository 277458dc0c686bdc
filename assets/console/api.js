// The public JSON API, as the console calls it: the bearer token on every
// request, If-Match with the version a change is based on, and every
// failure as a Problem (RFC 9457 problem+json).

import { BASE, token, signOut } from './auth.js';

export class Problem extends Error {
  constructor(status, body) {
    super(body?.detail || body?.title || `HTTP ${status}`);
    this.status = status;
    this.title = body?.title || `HTTP ${status}`;
    this.detail = body?.detail || '';
    this.errors = Array.isArray(body?.errors) ? body.errors : [];
  }
}

/**
 * Calls the API. options: { query, body, version } where version is the
 * record's version the change is based on (sent as If-Match).
 */
export async function api(method, path, { query, body, version } = {}) {
  const url = new URL(BASE + path, location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== '') url.searchParams.set(name, value);
  }
  const headers = { Accept: 'application/json', Authorization: `Bearer ${token()}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (version !== undefined) headers['If-Match'] = `"${version}"`;
  const response = await fetch(url, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'omit', cache: 'no-store',
  });
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (response.status === 401) {
    signOut('Your sign-in has expired or was not accepted; sign in again.');
    throw new Problem(401, data);
  }
  if (!response.ok) throw new Problem(response.status, data);
  return data;
}

export const get = (path, query) => api('GET', path, { query });

/** Every item of a list, following cursors, up to `most`. */
export async function all(path, query = {}, most = 1000) {
  const items = [];
  let cursor;
  do {
    const page = await get(path, { ...query, limit: 200, cursor });
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && items.length < most);
  return items;
}

let staff;
let staffFor;

/** Who is who: the caller (`GET /v1/me`) and the staff names by id
 * (`GET /v1/staff`), read once per sign-in. */
export async function people() {
  if (staffFor !== token()) staff = undefined;
  staffFor = token();
  staff ??= Promise.all([get('/v1/me'), all('/v1/staff', {}, 1000)]).then(([me, list]) => ({
    me, name: new Map(list.map((s) => [s.id, s.display_name || s.subject])),
  }));
  return staff.catch((err) => { staff = undefined; throw err; });
}

/** Who holds a call, as people() names them. */
export function holder(call, who) {
  if (call.navigator_id) return call.navigator_id === who.me.id ? 'me' : who.name.get(call.navigator_id) || 'someone';
  return call.navigator || 'unassigned';
}
