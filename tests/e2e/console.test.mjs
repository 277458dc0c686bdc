// The console in headless Chromium against the real binary, on the
// database DATABASE_URL names (SQLite or PostgreSQL): each role signs in,
// a lead is worked from intake to conversion to a referral, a change made
// underneath gives a 412, a viewer sees no personal data, and axe-core
// finds no serious or critical violation on any page.
//
// Environment: NAVIGATOR_BIN (the binary), DATABASE_URL, PORT, and
// SCREENSHOTS (a folder: the main pages are saved there) if wanted.
// Run by scripts/console-e2e.sh.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { AxeBuilder } from '@axe-core/playwright';

const BIN = process.env.NAVIGATOR_BIN || 'target/debug/navigator';
const DATABASE_URL = process.env.DATABASE_URL;
const PORT = process.env.PORT || '4601';
const BASE = `http://127.0.0.1:${PORT}`;
const SCREENSHOTS = process.env.SCREENSHOTS || '';
const ENV = {
  PATH: process.env.PATH,
  DATABASE_URL,
  NAVIGATOR_JWT_SECRET: 'console-e2e-secret-console-e2e-secret',
  RUST_LOG: 'warn',
};
const TIMEOUT = 15_000;

let server;
let serverOutput = '';
let browser;
const tokens = {};
const ids = {};
const problems = [];

function token(role, sub) {
  return execFileSync(BIN, ['token', '--role', role, '--sub', sub], { env: ENV }).toString().trim();
}

async function call(method, path, role, body, headers = {}) {
  const response = await fetch(BASE + path, {
    method,
    headers: {
      ...(role ? { Authorization: `Bearer ${tokens[role]}` } : {}),
      ...(body ? { 'Content-Type': 'application/json' } : {}),
      ...headers,
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  const data = text ? JSON.parse(text) : null;
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return data;
}

async function signedIn(role) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-GB', timezoneId: 'UTC' });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  page.on('console', (message) => {
    if (message.type() === 'error' && !/status of 4\d\d/.test(message.text())) problems.push(`${role}: ${message.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`${role}: ${err.message}`));
  if (role) {
    await page.goto(`${BASE}/console/#token=${tokens[role]}`);
    await page.getByRole('heading', { level: 1, name: 'The day' }).waitFor();
  }
  return page;
}

/** axe-core on the page as it is: no serious or critical violation. */
async function accessible(page, name) {
  const results = await new AxeBuilder({ page }).analyze();
  const bad = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(
    bad.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`),
    [],
    `axe on ${name}`,
  );
}

async function screenshot(page, name) {
  if (!SCREENSHOTS) return;
  // The page as it rests, without the last change's passing notice.
  await page.evaluate(() => { document.getElementById('status').textContent = ''; });
  await page.screenshot({ path: `${SCREENSHOTS}/${name}.png`, fullPage: true });
}

async function openPatient(page, id) {
  await page.goto(`${BASE}/console/#/patients/${id}`);
  await page.getByRole('heading', { level: 2, name: /^Calls \(\d+\)$/ }).waitFor();
}

before(async () => {
  assert.ok(DATABASE_URL, 'DATABASE_URL names the database');
  if (SCREENSHOTS) mkdirSync(SCREENSHOTS, { recursive: true });
  server = spawn(BIN, ['serve', '--addr', `127.0.0.1:${PORT}`], { env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
  server.stdout.on('data', (chunk) => { serverOutput += chunk; });
  server.stderr.on('data', (chunk) => { serverOutput += chunk; });
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${BASE}/ready`)).ok) break;
    } catch { /* not yet listening */ }
    if (i > 300) throw new Error(`the server did not start:\n${serverOutput}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  tokens.admin = token('admin', 'ada-admin');
  tokens.navigator = token('navigator', 'nina');
  tokens.viewer = token('viewer', 'victor');
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  // Reference data a navigator picks from.
  const hospital = await call('POST', '/v1/hospitals', 'admin', { name: 'Hôpital Saint-Louis', city: 'Paris', country: 'France' });
  const physician = await call('POST', '/v1/practitioners', 'admin', {
    kind: 'physician', first_name: 'Grace', last_name: 'Hopper', hospital_id: hospital.id,
  });
  ids.physician = physician.id;
  await call('POST', '/v1/expanded-access-programs', 'admin', { eap_number: 'EAP-0042', product: 'Navimab', status: 'open' });
});

after(async () => {
  await browser?.close();
  if (server) {
    server.kill('SIGTERM');
    await new Promise((resolve) => server.once('exit', resolve));
  }
});

test('the console is served with its own policy and no inline script', async () => {
  const response = await fetch(`${BASE}/console/`);
  assert.equal(response.status, 200);
  const csp = response.headers.get('content-security-policy');
  assert.match(csp, /script-src 'self';/);
  assert.match(csp, /connect-src 'self';/);
  assert.doesNotMatch(csp, /unsafe-inline/);
});

test('the sign-in page takes a pasted token, and is accessible', async () => {
  const page = await signedIn(null);
  await page.goto(`${BASE}/console/`);
  await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
  await accessible(page, 'sign-in');
  await screenshot(page, 'sign-in');
  await page.getByLabel('Bearer token').fill('not a token');
  await page.getByRole('button', { name: 'Sign in with this token' }).click();
  await page.getByText('not a token the console can read').waitFor();
  // Keyboard only: focus the field, type, submit with Enter on the button.
  await page.getByLabel('Bearer token').fill(tokens.navigator);
  await page.getByRole('button', { name: 'Sign in with this token' }).focus();
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { level: 1, name: 'The day' }).waitFor();
  assert.match(await page.locator('#who').innerText(), /nina/);
  await page.context().close();
});

test('an admin signs in (on SQLite with the link serve prints), sees reference data and adds a trial', async () => {
  const link = serverOutput.match(/http:\/\/\S+\/console\/#token=\S+/);
  if (DATABASE_URL.startsWith('sqlite:')) {
    assert.ok(link, `serve printed a sign-in link:\n${serverOutput}`);
  } else {
    assert.equal(link, null, 'no sign-in link outside local SQLite mode');
  }
  const page = await signedIn(null);
  if (link) {
    await page.goto(link[0].replace(/127\.0\.0\.1:\d+/, `127.0.0.1:${PORT}`));
  } else {
    await page.goto(`${BASE}/console/#token=${tokens.admin}`);
  }
  await page.getByRole('heading', { level: 1, name: 'The day' }).waitFor();
  assert.ok(!page.url().includes('token='), 'the token left the address bar');
  assert.ok(await page.evaluate(() => sessionStorage.getItem('navigator.console.token')));
  await accessible(page, 'the day (admin)');
  await page.getByRole('link', { name: 'Reference data' }).click();
  await page.getByRole('heading', { level: 2, name: /^Medical conditions/ }).waitFor();
  await accessible(page, 'reference data');
  await page.getByRole('link', { name: 'Clinical trials' }).click();
  await page.getByRole('heading', { level: 2, name: /^Clinical trials \(0\)/ }).waitFor();
  await page.getByLabel('Registry id').fill('NCT01234567');
  await page.getByLabel('Title').fill('Navimab in glioblastoma');
  await page.getByLabel('Status').selectOption('recruiting');
  await page.getByRole('button', { name: 'Add to clinical trials' }).click();
  await page.getByRole('heading', { level: 2, name: /^Clinical trials \(1\)/ }).waitFor();
  await page.getByRole('cell', { name: 'NCT01234567' }).waitFor();
  // A second with the same registry id: the API's 409, shown by the form.
  await page.getByLabel('Registry id').fill('NCT01234567');
  await page.getByRole('button', { name: 'Add to clinical trials' }).click();
  await page.getByRole('alert').filter({ hasText: 'already exists' }).waitFor();
  await accessible(page, 'reference data with an error');
  await screenshot(page, 'reference-data');
  await page.context().close();
});

test('a navigator works a lead from intake to conversion to a referral', async () => {
  const inAnHour = new Date(Date.now() + 3600_000).toISOString();
  await call('POST', '/v1/intake-submissions', null, {
    email: 'ada.lovelace@example.org', first_name: 'Ada', last_name: 'Lovelace', phone: '+44 20 7946 0000',
    medical_condition: 'Glioblastoma', requested_call_at: inAnHour,
  });
  const leads = await call('GET', '/v1/patients?email=ada.lovelace@example.org', 'navigator');
  assert.equal(leads.items.length, 1);
  ids.lead = leads.items[0].id;
  const page = await signedIn('navigator');
  // The skip link, first in the tab order, moves focus to the content.
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Skip to content');
  await page.keyboard.press('Enter');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'main');
  assert.match(page.url(), /#\/day$/);
  await page.getByRole('link', { name: 'Patients' }).click();
  const search = page.getByRole('searchbox', { name: 'Find a lead or patient' });
  await search.pressSequentially('lovel', { delay: 30 });
  await page.getByRole('link', { name: 'Ada Lovelace' }).waitFor();
  await accessible(page, 'search');
  await screenshot(page, 'search');
  // By keyboard: from the search box to the first result, Enter.
  await search.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Ada Lovelace');
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { level: 1, name: /Ada Lovelace/ }).waitFor();
  assert.equal(await page.evaluate(() => document.activeElement.tagName), 'H1', 'focus moves to the new page');
  await accessible(page, 'patient (lead)');

  // A field's problem+json error appears next to the field.
  const details = page.getByRole('form', { name: 'Contact details' });
  await details.getByLabel('Email').fill('not an email');
  await details.getByRole('button', { name: 'Save details' }).click();
  const emailError = details.locator('#' + (await details.getByLabel('Email').getAttribute('id')) + '-error');
  await emailError.filter({ hasText: /./ }).waitFor();
  assert.equal(await details.getByLabel('Email').getAttribute('aria-invalid'), 'true');
  await accessible(page, 'patient with a field error');

  // Converting before any completed call: the API's 409, said plainly.
  await page.getByRole('button', { name: 'Convert to patient' }).click();
  await page.getByText('only after at least one completed call').waitFor();

  // The call booked by the form did not happen; a new one did.
  await page.getByRole('button', { name: /a no-show$/ }).click();
  await page.getByRole('cell', { name: 'no show' }).waitFor();
  const log = page.getByRole('form', { name: 'Log a call' });
  await log.getByLabel('Notes').fill('Discussed the trial options.');
  await log.getByRole('button', { name: 'Log the call' }).click();
  await page.getByRole('cell', { name: 'Discussed the trial options.' }).waitFor();

  await page.getByRole('button', { name: 'Convert to patient' }).click();
  await page.getByRole('heading', { level: 1, name: /Ada Lovelace\s+patient/ }).waitFor();
  await page.getByText('Referrals and enrollments need a physician').waitFor();

  const physician = page.getByRole('form', { name: 'Assign a physician' });
  await physician.getByLabel('Physician').selectOption(ids.physician);
  await physician.getByRole('button', { name: 'Assign the physician' }).click();
  await page.locator('.details').getByText('Grace Hopper').waitFor();

  const refer = page.getByRole('form', { name: 'Refer to a trial' });
  await refer.getByLabel('Clinical trial').selectOption({ label: 'NCT01234567 · Navimab in glioblastoma' });
  await refer.getByRole('button', { name: 'Refer' }).click();
  await page.getByRole('heading', { level: 2, name: 'Clinical-trial referrals (1)' }).waitFor();

  const enroll = page.getByRole('form', { name: 'Enroll in a program' });
  await enroll.getByLabel('Program').selectOption({ label: 'EAP-0042 · Navimab' });
  await enroll.getByRole('button', { name: 'Enroll' }).click();
  await page.getByRole('heading', { level: 2, name: 'Expanded Access Program enrollments (1)' }).waitFor();
  await page.getByRole('heading', { level: 2, name: 'History' }).waitFor();
  await accessible(page, 'patient (converted, referred)');
  await screenshot(page, 'patient');

  // The day: the call this navigator logged today, the referral pending.
  await page.getByRole('link', { name: 'The day' }).click();
  const today = page.getByRole('region', { name: /^My calls today/ });
  await today.getByRole('link', { name: 'Ada Lovelace' }).waitFor();
  await page.getByRole('region', { name: /^Referrals awaiting/ }).getByRole('link', { name: 'Ada Lovelace' }).waitFor();
  await accessible(page, 'the day (navigator)');
  await screenshot(page, 'day');

  const patient = await call('GET', `/v1/patients/${ids.lead}?include=referrals,enrollments`, 'admin');
  assert.equal(patient.status, 'patient');
  assert.equal(patient.physician_id, ids.physician);
  assert.equal(patient.referrals.length, 1);
  assert.equal(patient.enrollments.length, 1);
  await page.context().close();
});

test('a change made underneath is refused with 412, and said so', async () => {
  const page = await signedIn('navigator');
  await openPatient(page, ids.lead);
  // Someone else changes the record after the page was drawn.
  await call('PATCH', `/v1/patients/${ids.lead}`, 'admin', { phone: '+44 20 7946 0999' });
  const details = page.getByRole('form', { name: 'Contact details' });
  await details.getByLabel('First name').fill('Augusta Ada');
  await details.getByRole('button', { name: 'Save details' }).click();
  await details.getByRole('alert').filter({ hasText: 'Someone else changed this record' }).waitFor();
  await accessible(page, 'patient with a 412');
  await details.getByRole('link', { name: 'Reload to see their change' }).click();
  await page.locator('.details').getByText('+44 20 7946 0999').waitFor();
  const patient = await call('GET', `/v1/patients/${ids.lead}`, 'admin');
  assert.equal(patient.first_name, 'Ada', 'the stale change was not applied');
  await page.context().close();
});

test('a viewer sees the pages without personal data and without edit controls', async () => {
  const page = await signedIn('viewer');
  await accessible(page, 'the day (viewer)');
  await page.getByRole('link', { name: 'Patients' }).click();
  await page.getByRole('heading', { level: 2, name: /Leads and patients/ }).waitFor();
  await accessible(page, 'patients (viewer)');
  await openPatient(page, ids.lead);
  await page.getByText('Personal data is not shown to your role.').waitFor();
  const text = await page.locator('main').innerText();
  for (const personal of ['Ada', 'Lovelace', 'ada.lovelace@example.org', '7946', 'Discussed the trial']) {
    assert.ok(!text.includes(personal), `a viewer sees ${personal}`);
  }
  assert.equal(await page.locator('main form').count(), 0, 'no form');
  assert.equal(await page.locator('main button').count(), 0, 'no button');
  assert.equal(await page.getByRole('link', { name: 'Reference data' }).count(), 0);
  await accessible(page, 'patient (viewer)');
  await screenshot(page, 'patient-viewer');
  await page.context().close();
});

test('an admin erases a person\'s personal data with a reason', async () => {
  const other = await call('POST', '/v1/patients', 'admin', { first_name: 'Erin', last_name: 'Erased', email: 'erin@example.org' });
  const page = await signedIn('admin');
  await openPatient(page, other.id);
  await page.getByRole('heading', { level: 2, name: 'Erase personal data' }).waitFor();
  await accessible(page, 'patient (admin)');
  await page.getByRole('button', { name: /^Erase this person/ }).click();
  // The API's answer flags the field; wait for it rather than for the
  // label, which is there before the answer arrives.
  await page.locator('[aria-invalid="true"]').first().waitFor();
  assert.equal(await page.locator('[aria-invalid="true"]').count(), 1, 'the missing reason is flagged');
  await page.getByLabel(/^Reason/).fill('Request ER-2026-17');
  await page.getByRole('button', { name: /^Erase this person/ }).click();
  await page.getByText('Personal data erased', { exact: true }).waitFor();
  const text = await page.locator('main').innerText();
  assert.ok(!text.includes('Erin'));
  assert.equal(await page.getByRole('form', { name: 'Contact details' }).count(), 0, 'an erased record takes no changes');
  await page.context().close();
});

test('no page logged a script error or a policy violation', () => {
  assert.deepEqual(problems, []);
});
