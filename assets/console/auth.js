// Signing in. The token lives in this tab's session storage only (never a
// cookie, never local storage), and is sent to this origin only.
//
// Locally: a token from `navigator token`, pasted in, or handed over in the
// link `navigator serve` prints (#token=... in the fragment, which the
// browser never sends to a server; it is moved here and cleared from the
// address bar). On AWS, when /console/config.json says so: the Cognito
// hosted UI, authorization code with PKCE (RFC 7636).

/** Where the API is: the path before `/console/`. Locally that is the
 * root; behind API Gateway's REST API it is the stage (`/prod`), which
 * the browser sees in the address and the function does not. */
export const BASE = location.pathname.replace(/\/console(\/.*)?$/, '');

const TOKEN = 'navigator.console.token';
const PKCE = 'navigator.console.pkce';
const NOTICE = 'navigator.console.notice';

export function token() { return sessionStorage.getItem(TOKEN); }

export function signIn(value) {
  sessionStorage.setItem(TOKEN, value.trim());
}

export function signOut(notice) {
  sessionStorage.removeItem(TOKEN);
  if (notice) sessionStorage.setItem(NOTICE, notice);
  go('#/sign-in');
}

/** Shows the page at `hash`, drawing it again if it is the current one. */
export function go(hash) {
  if (location.hash === hash) window.dispatchEvent(new HashChangeEvent('hashchange'));
  else location.hash = hash;
}

/** A message left for the sign-in page (why the session ended). */
export function takeNotice() {
  const notice = sessionStorage.getItem(NOTICE);
  sessionStorage.removeItem(NOTICE);
  return notice;
}

/** Moves a token handed over in the fragment into session storage. */
export function takeTokenFromFragment() {
  if (!location.hash.startsWith('#token=')) return;
  signIn(decodeURIComponent(location.hash.slice('#token='.length)));
  history.replaceState(null, '', `${location.pathname}#/day`);
}

function base64url(bytes) {
  return btoa(String.fromCharCode(...bytes)).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}

/** The token's claims, for the page's own use (the API verifies it). */
export function claims(value = token()) {
  if (!value) return null;
  try {
    const part = value.split('.')[1].replaceAll('-', '+').replaceAll('_', '/');
    const json = decodeURIComponent(Array.from(atob(part), (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`).join(''));
    return JSON.parse(json);
  } catch {
    return null;
  }
}

const RANKS = ['viewer', 'navigator', 'admin'];

/** The highest role the token names (`role`, or Cognito's groups). */
export function role(value = token()) {
  const c = claims(value);
  if (!c) return null;
  let names = c.role ? [c.role] : c['cognito:groups'] || [];
  if (typeof names === 'string') names = names.replace(/[[\]]/g, '').split(/[ ,]+/);
  return names.filter((n) => RANKS.includes(n)).sort((a, b) => RANKS.indexOf(b) - RANKS.indexOf(a))[0] || null;
}

/** Whether the role includes `needed`. */
export function allows(needed) {
  return RANKS.indexOf(role()) >= RANKS.indexOf(needed);
}

/** Who the token speaks for: what the API records as the actor. */
export function subject() {
  const c = claims();
  return c?.sub || c?.username || c?.['cognito:username'] || null;
}

export function expired() {
  const c = claims();
  return !c || (typeof c.exp === 'number' && c.exp * 1000 < Date.now());
}

function redirectUri() { return `${location.origin}${BASE}/console/`; }

/** Sends the browser to the hosted UI, with a fresh PKCE verifier and state. */
export async function startCognito(config) {
  const verifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
  const state = base64url(crypto.getRandomValues(new Uint8Array(16)));
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
  sessionStorage.setItem(PKCE, JSON.stringify({ verifier, state }));
  const url = new URL(config.authorize_endpoint);
  url.search = new URLSearchParams({
    response_type: 'code', client_id: config.client_id, redirect_uri: redirectUri(),
    scope: config.scope, state, code_challenge: base64url(digest), code_challenge_method: 'S256',
  });
  location.assign(url);
}

/** Signs out of the hosted UI too, which sends the browser back here. */
export function leaveCognito(config) {
  const url = new URL(config.logout_endpoint);
  url.search = new URLSearchParams({ client_id: config.client_id, logout_uri: redirectUri() });
  location.assign(url);
}

/**
 * Back from the hosted UI with ?code=&state=: exchanges the code (with the
 * verifier) for tokens, keeps the ID token, and clears the query.
 * Returns an error message, or null.
 */
export async function completeCognito(config) {
  const params = new URLSearchParams(location.search);
  if (!params.has('code') && !params.has('error')) return null;
  history.replaceState(null, '', `${location.pathname}#/day`);
  const saved = JSON.parse(sessionStorage.getItem(PKCE) || 'null');
  sessionStorage.removeItem(PKCE);
  if (params.has('error')) return `Sign-in failed: ${params.get('error_description') || params.get('error')}`;
  if (!saved || saved.state !== params.get('state')) return 'Sign-in failed: the answer does not match this tab’s request; try again.';
  const response = await fetch(config.token_endpoint, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code', client_id: config.client_id, code: params.get('code'),
      redirect_uri: redirectUri(), code_verifier: saved.verifier,
    }),
    credentials: 'omit',
  });
  if (!response.ok) return 'Sign-in failed: the code was refused; try again.';
  const tokens = await response.json();
  // The ID token: API Gateway's Cognito authorizer checks it when a route
  // names no OAuth scope (the access token is for scoped routes); it
  // carries the groups (roles) and the subject too.
  signIn(tokens.id_token || tokens.access_token);
  return null;
}
