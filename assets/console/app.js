// The console's shell: sign-in, navigation and the routes (#/day,
// #/search, #/patients/ID, #/funnel?from=&to=&condition=,
// #/reference/KIND). Each page is a module with render(main, ...params).

import * as auth from './auth.js';
import { h, show } from './ui.js';
import * as day from './day.js';
import * as search from './search.js';
import * as patient from './patient.js';
import * as reference from './reference.js';
import * as funnel from './funnel.js';

const main = document.getElementById('main');
let config = { sign_in: 'token' };

const routes = [
  { pattern: /^#\/day$/, page: day, title: 'The day', nav: true },
  { pattern: /^#\/search$/, page: search, title: 'Patients', nav: true },
  { pattern: /^#\/patients\/([0-9a-f-]{36})$/, page: patient },
  { pattern: /^#\/funnel(?:\?(.*))?$/, page: funnel, title: 'The funnel', nav: true, href: '#/funnel' },
  { pattern: /^#\/reference(?:\/([a-z-]+))?$/, page: reference, title: 'Reference data', nav: true, role: 'admin', href: '#/reference' },
];

function navigation() {
  const nav = document.getElementById('nav');
  const who = document.getElementById('who');
  if (!auth.token()) {
    show(nav);
    show(who);
    return;
  }
  show(nav, h('ul', {}, routes.filter((r) => r.nav && (!r.role || auth.allows(r.role))).map((r) => {
    const href = r.href || r.pattern.source.replace(/^\^|\$$/g, '').replaceAll('\\/', '/');
    const current = location.hash.startsWith(href);
    return h('li', {}, h('a', { href, 'aria-current': current ? 'page' : null }, r.title));
  })));
  show(who,
    h('span', {}, `${auth.subject()} · `, h('strong', { class: 'role' }, auth.role() || 'no role')),
    h('button', {
      type: 'button',
      class: 'link',
      onclick: () => {
        auth.signOut();
        if (config.sign_in === 'cognito') auth.leaveCognito(config);
      },
    }, 'Sign out'));
}

function signInPage(notice) {
  document.title = 'Sign in · Navigator console';
  const error = h('p', { class: 'form-error', role: 'alert' }, notice || '');
  const children = [h('h1', { tabindex: '-1' }, 'Sign in'), error];
  if (config.sign_in === 'cognito') {
    children.push(
      h('p', {}, 'Sign in with your staff account.'),
      h('button', { type: 'button', onclick: () => auth.startCognito(config) }, 'Sign in with your staff account'));
  }
  const input = h('textarea', { id: 'token', name: 'token', rows: 4, required: true, 'aria-describedby': 'token-hint', spellcheck: 'false' });
  const form = h('form', { class: 'form', novalidate: true },
    h('div', { class: 'field' },
      h('label', { for: 'token' }, 'Bearer token'),
      h('span', { class: 'hint', id: 'token-hint' },
        'Print one with ', h('code', {}, 'navigator token --role navigator --sub YOUR-NAME'),
        ', or open the link ', h('code', {}, 'cargo run'), ' prints.'),
      input),
    h('button', { type: 'submit' }, 'Sign in with this token'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const value = input.value.trim();
    if (!value) { error.textContent = 'Paste a token first.'; input.focus(); return; }
    if (!auth.role(value)) { error.textContent = 'This is not a token the console can read (no role in it).'; input.focus(); return; }
    auth.signIn(value);
    auth.go('#/day');
  });
  children.push(config.sign_in === 'cognito' ? h('details', {}, h('summary', {}, 'Sign in with a token instead'), form) : form);
  show(main, h('section', { class: 'sign-in' }, children));
}

async function route() {
  navigation();
  if (!auth.token() || auth.expired()) {
    const notice = auth.takeNotice() || (auth.token() ? 'Your sign-in has expired; sign in again.' : '');
    if (auth.token()) auth.signOut();
    signInPage(notice);
    focusHeading();
    return;
  }
  const hash = location.hash || '#/day';
  const found = routes.find((r) => r.pattern.test(hash) && (!r.role || auth.allows(r.role)));
  if (!found) {
    location.replace('#/day');
    return;
  }
  const params = hash.match(found.pattern).slice(1);
  show(main, h('p', { class: 'loading' }, 'Loading…'));
  try {
    await found.page.render(main, ...params);
  } catch (err) {
    if (err?.status === 401) return;
    show(main, h('h1', { tabindex: '-1' }, 'Something went wrong'),
      h('p', { role: 'alert' }, err?.status === 404 ? 'No record exists at this address.' : (err?.message || 'The page could not be loaded.')));
  }
  focusHeading();
}

let loaded = false;

/** After a move within the console, focus to the new page's heading
 * (unless the page put it in a field); on first load the tab order starts
 * at the top, with the skip link. */
function focusHeading() {
  const heading = main.querySelector('h1');
  if (loaded && heading && !main.contains(document.activeElement)) heading.focus({ preventScroll: true });
  loaded = true;
}

document.addEventListener('click', (event) => {
  // The 412 message's link draws the page again with the current record.
  if (event.target.closest?.('[data-reload]')) {
    event.preventDefault();
    route();
  }
  // The skip link moves focus without touching the hash (the router's).
  if (event.target.closest?.('.skip')) {
    event.preventDefault();
    main.focus();
  }
});

async function start() {
  try {
    const response = await fetch('config.json', { cache: 'no-store' });
    if (response.ok) config = await response.json();
  } catch { /* the token sign-in works without it */ }
  auth.takeTokenFromFragment();
  if (config.sign_in === 'cognito') {
    const failed = await auth.completeCognito(config);
    if (failed) sessionStorage.setItem('navigator.console.notice', failed);
  }
  if (!location.hash || location.hash === '#') history.replaceState(null, '', '#/day');
  window.addEventListener('hashchange', route);
  await route();
}

start();
