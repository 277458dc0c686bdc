// The console in headless Chromium against the real binary, on the
// database DATABASE_URL names (SQLite or PostgreSQL): each role signs in,
// a lead is worked from intake to conversion to a referral, the day's work
// queues show seeded rows, the funnel shows a known seed's exact figures,
// a change made underneath gives a 412, a viewer sees no personal data,
// the Cognito sign-in works under an API Gateway stage, and axe-core finds
// no serious or critical violation on any page.
//
// Environment: NAVIGATOR_BIN (the binary), DATABASE_URL, PORT, and
// SCREENSHOTS (a folder: the main pages are saved there) if wanted.
// Run by scripts/console-e2e.sh.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createHash } from 'node:crypto';
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

  const patient = await call('GET', `/v1/patients/${ids.lead}?include=referrals,enrollments`, 'admin');
  assert.equal(patient.status, 'patient');
  assert.equal(patient.physician_id, ids.physician);
  assert.equal(patient.referrals.length, 1);
  assert.equal(patient.enrollments.length, 1);
  await page.context().close();
});

/** A lead, created by an admin, named and dated as given. */
async function person(first_name, extra = {}) {
  return call('POST', '/v1/patients', 'admin', {
    first_name, last_name: 'Seed', email: `${first_name.toLowerCase()}.seed@example.org`, ...extra,
  });
}

/** A completed call, then the conversion (which needs one). */
async function convert(p, at) {
  await call('POST', '/v1/calls', 'admin', { patient_id: p.id, scheduled_at: at, status: 'completed' });
  await call('POST', `/v1/patients/${p.id}/convert`, 'admin');
}

test('the day lists each work queue of the API, one click from a row to the patient', async () => {
  const nina = await call('GET', '/v1/me', 'navigator');
  const noon = new Date();
  noon.setUTCHours(12, 0, 0, 0);
  const today = await person('Tamsin');
  await call('POST', '/v1/calls', 'admin', { patient_id: today.id, navigator_id: nina.id, scheduled_at: noon.toISOString() });
  // Someone else's call today: not in my calls.
  const others = await person('Oscar');
  await call('POST', '/v1/calls', 'admin', { patient_id: others.id, scheduled_at: noon.toISOString() });
  const reminded = await person('Rhoda');
  await call('POST', '/v1/calls', 'admin', {
    patient_id: reminded.id, scheduled_at: new Date(Date.now() + 86_400_000).toISOString(),
    reminder_at: new Date(Date.now() - 3_600_000).toISOString(),
  });
  const waiting = await person('Quentin');

  const page = await signedIn('navigator');
  const region = (name) => page.getByRole('region', { name });
  await region(/^My calls today/).getByRole('link', { name: 'Tamsin Seed' }).waitFor();
  await region(/^My calls this week/).getByRole('link', { name: 'Tamsin Seed' }).waitFor();
  assert.equal(await region(/^My calls/).getByRole('link', { name: 'Oscar Seed' }).count(), 0, 'not my call');
  const reminders = region(/^Reminders due/);
  await reminders.getByRole('link', { name: 'Rhoda Seed' }).waitFor();
  assert.equal(await reminders.getByRole('link', { name: 'Tamsin Seed' }).count(), 0, 'no reminder set');
  const leads = region(/^New leads without a call booked/);
  await leads.getByRole('link', { name: 'Quentin Seed' }).waitFor();
  for (const booked of ['Tamsin Seed', 'Rhoda Seed']) {
    assert.equal(await leads.getByRole('link', { name: booked }).count(), 0, `${booked} has a call booked`);
  }
  await region(/^Referrals awaiting/).getByRole('link', { name: 'Ada Lovelace' }).waitFor();
  await accessible(page, 'the day (navigator, every queue)');
  await screenshot(page, 'day');
  // One click from each queue's row to the patient.
  for (const [queue, who] of [[/^My calls today/, today], [/^Reminders due/, reminded], [/^New leads without/, waiting]]) {
    const name = `${who.first_name} Seed`;
    await region(queue).getByRole('link', { name }).click();
    await page.getByRole('heading', { level: 1, name: new RegExp(name) }).waitFor();
    assert.match(page.url(), new RegExp(`#/patients/${who.id}$`));
    await page.goBack();
    await page.getByRole('heading', { level: 1, name: 'The day' }).waitFor();
  }
  await page.context().close();
});

test('the funnel shows the metrics of a known seed, as a table and a chart, for every role', async () => {
  // Leads first contacted in Jan to Mar 2025 (no other test's records fall
  // there): Jan 3 DMD (2 converted) and 1 IPF; Feb 2 IPF (1 converted);
  // Mar 1 without a condition. A no-show in January too.
  // Two of the three conditions every database starts with.
  const conditions = (await call('GET', '/v1/medical-conditions?limit=200', 'admin')).items;
  const condition = (name) => conditions.find((c) => c.name === name) || assert.fail(`no ${name}`);
  const [dmd, ipf] = [condition('Duchenne Muscular Dystrophy'), condition('Idiopathic Pulmonary Fibrosis')];
  const seed = [
    ['Jan1', '2025-01-06', dmd, '2025-01-08'], ['Jan2', '2025-01-13', dmd, '2025-01-20'], ['Jan3', '2025-01-20', dmd],
    ['Jan4', '2025-01-27', ipf], ['Feb1', '2025-02-03', ipf, '2025-02-05'], ['Feb2', '2025-02-10', ipf], ['Mar1', '2025-03-03'],
  ];
  for (const [name, first, condition, converted] of seed) {
    const p = await person(`Funnel${name}`, { first_contact_at: `${first}T10:00:00Z`, medical_condition_id: condition?.id });
    if (converted) await convert(p, `${converted}T10:00:00Z`);
    if (name === 'Jan3') await call('POST', '/v1/calls', 'admin', { patient_id: p.id, scheduled_at: '2025-01-22T10:00:00Z', status: 'no_show' });
  }
  const metrics = await call('GET', '/v1/metrics/funnel?from=2025-01&to=2025-03', 'viewer');
  const median = new Intl.NumberFormat('en-GB', { maximumFractionDigits: 1 });
  const rows = (table) => table.locator('tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.cells].map((td) => td.textContent)));

  for (const role of ['viewer', 'navigator', 'admin']) {
    const page = await signedIn(role);
    await page.getByRole('link', { name: 'The funnel' }).click();
    await page.getByRole('heading', { level: 1, name: 'The funnel' }).waitFor();
    // By keyboard: the period's fields, then Enter on the button.
    await page.getByLabel('From (month)').fill('2025-01');
    await page.getByLabel('To (month)').fill('2025-03');
    await page.getByRole('button', { name: 'Show' }).focus();
    await page.keyboard.press('Enter');
    await page.locator('.lede').getByText('Jan 2025 to Mar 2025, all conditions').waitFor();
    assert.equal(await page.locator('#total-leads').textContent(), '7', role);
    assert.equal(await page.locator('#total-converted').textContent(), '3', role);
    assert.equal(await page.locator('#total-rate').textContent(), '42.9%', role);
    if (role !== 'viewer') { await page.context().close(); continue; }

    assert.deepEqual(await rows(page.getByRole('table', { name: 'Leads and conversions per month', exact: true })), [
      ['Jan 2025', '4', '2', '50%'], ['Feb 2025', '2', '1', '50%'], ['Mar 2025', '1', '0', '0%'],
    ]);
    assert.deepEqual(await rows(page.getByRole('table', { name: 'Leads and conversions per medical condition', exact: true })), [
      ['Duchenne Muscular Dystrophy', '3', '2', '66.7%'], ['Idiopathic Pulmonary Fibrosis', '3', '1', '33.3%'], ['None recorded', '1', '0', '0%'],
    ]);
    const days = (condition, month) => {
      const m = metrics.find((r) => r.month === month && r.medical_condition_id === condition);
      return m.median_days_to_conversion === null ? '—' : median.format(m.median_days_to_conversion);
    };
    assert.deepEqual(await rows(page.getByRole('table', { name: 'Leads and conversions per month and medical condition' })), [
      ['Jan 2025', 'Duchenne Muscular Dystrophy', '3', '2', '66.7%', days(dmd.id, '2025-01')],
      ['Jan 2025', 'Idiopathic Pulmonary Fibrosis', '1', '0', '0%', '—'],
      ['Feb 2025', 'Idiopathic Pulmonary Fibrosis', '2', '1', '50%', days(ipf.id, '2025-02')],
      ['Mar 2025', 'None recorded', '1', '0', '0%', '—'],
    ]);
    assert.deepEqual(await rows(page.getByRole('table', { name: 'Calls per month and medical condition' })), [
      ['Jan 2025', 'Duchenne Muscular Dystrophy', '2', '1', '33.3%'],
      ['Feb 2025', 'Idiopathic Pulmonary Fibrosis', '1', '0', '0%'],
    ]);
    // The chart: an image named by its title, a bar per month and figure.
    const chart = page.getByRole('img', { name: 'Leads and conversions per month' });
    await chart.waitFor();
    assert.deepEqual(await chart.locator('rect.leads title').allTextContents(),
      ['Jan 2025: 4 leads', 'Feb 2025: 2 leads', 'Mar 2025: 1 lead']);
    assert.deepEqual(await chart.locator('rect.converted title').allTextContents(),
      ['Jan 2025: 2 converted', 'Feb 2025: 1 converted', 'Mar 2025: 0 converted']);
    const heights = await chart.locator('rect.leads').evaluateAll((bars) => bars.map((b) => Number(b.getAttribute('height'))));
    assert.ok(heights[0] > heights[1] && heights[1] > heights[2] && heights[2] > 0, `bar heights ${heights}`);
    await accessible(page, 'the funnel');
    await screenshot(page, 'funnel');
    const text = await page.locator('main').innerText();
    assert.ok(!/Seed|Funnel(Jan|Feb|Mar)|@example/.test(text), 'the funnel shows no person');

    // One condition: the figures follow, and the address keeps the choice.
    await page.getByLabel('Medical condition', { exact: true }).selectOption({ label: 'Duchenne Muscular Dystrophy' });
    await page.getByRole('button', { name: 'Show' }).click();
    await page.locator('.lede').getByText('Jan 2025 to Mar 2025, Duchenne Muscular Dystrophy').waitFor();
    assert.equal(await page.locator('#total-leads').textContent(), '3');
    assert.equal(await page.locator('#total-rate').textContent(), '66.7%');
    assert.match(page.url(), new RegExp(`#/funnel\\?from=2025-01&to=2025-03&condition=${dmd.id}$`));
    // A period the wrong way round is refused beside the fields.
    await page.getByLabel('From (month)').fill('2025-04');
    await page.getByRole('button', { name: 'Show' }).click();
    await page.getByRole('alert').filter({ hasText: 'The first month comes after the last.' }).waitFor();
    assert.equal(await page.getByLabel('From (month)').getAttribute('aria-invalid'), 'true');
    await accessible(page, 'the funnel with an error');
    await page.context().close();
  }
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
  await page.getByRole('region', { name: /^New leads without a call booked/ }).waitFor();
  await accessible(page, 'the day (viewer)');
  const day = await page.locator('main').innerText();
  for (const personal of ['Ada', 'Lovelace', 'Tamsin', 'Rhoda', 'Quentin', 'Seed', '@example.org']) {
    assert.ok(!day.includes(personal), `a viewer's day shows ${personal}`);
  }
  assert.match(day, /Lead [0-9a-f]{8}/, 'a viewer sees records by id');
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

/** Starts a second server on `port`, with extra environment. */
async function serve(port, env) {
  const child = spawn(BIN, ['serve', '--addr', `127.0.0.1:${port}`], { env: { ...ENV, ...env }, stdio: 'ignore' });
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/ready`)).ok) return child;
    } catch { /* not yet listening */ }
    if (i > 300) throw new Error('the second server did not start');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

test('on AWS: under the stage, staff sign in through the hosted UI with PKCE, and sign out of it', async () => {
  // The function as the template configures it, behind a stand-in for API
  // Gateway (the stage /prod in every address, removed before the
  // function) and for Cognito's hosted UI (authorize, token, logout).
  const port = Number(PORT) + 100;
  const hosted = 'https://navigator-prod-123456789012.auth.eu-central-1.amazoncognito.com';
  const child = await serve(port, { NAVIGATOR_CONSOLE_COGNITO_DOMAIN: hosted, NAVIGATOR_CONSOLE_CLIENT_ID: 'console-client' });
  const origin = `http://127.0.0.1:${port}`;
  const consoleUrl = `${origin}/prod/console/`;
  const idToken = token('navigator', 'cora');
  const seen = { outside: [] };
  // The hosted UI's answer that sends the browser back: as a page, since
  // Playwright does not route the request a redirect leads to.
  const sendTo = (url) => ({
    status: 200, contentType: 'text/html',
    body: `<meta http-equiv="refresh" content="0;url=${url.replaceAll('&', '&amp;').replaceAll('"', '&quot;')}">`,
  });
  const page = await signedIn(null);
  const context = page.context();
  context.on('request', (request) => {
    const url = request.url();
    if (!url.startsWith(`${origin}/prod/`) && !url.startsWith(hosted)) seen.outside.push(url);
  });
  await context.route(`${origin}/prod/**`, async (route) => {
    const response = await route.fetch({ url: route.request().url().replace('/prod/', '/') });
    await route.fulfill({ response });
  });
  await context.route(`${hosted}/**`, async (route) => {
    const request = route.request();
    const url = new URL(request.url());
    if (url.pathname === '/oauth2/authorize') {
      seen.authorize = Object.fromEntries(url.searchParams);
      const back = new URL(seen.authorize.redirect_uri);
      back.search = new URLSearchParams({ code: 'the-code', state: seen.authorize.state });
      await route.fulfill(sendTo(back.href));
    } else if (url.pathname === '/oauth2/token') {
      seen.token = Object.fromEntries(new URLSearchParams(request.postData()));
      await route.fulfill({
        status: 200, contentType: 'application/json', headers: { 'access-control-allow-origin': origin },
        body: JSON.stringify({ id_token: idToken, access_token: 'not-for-the-api', token_type: 'Bearer', expires_in: 3600 }),
      });
    } else if (url.pathname === '/logout') {
      seen.logout = Object.fromEntries(url.searchParams);
      await route.fulfill(sendTo(seen.logout.logout_uri));
    } else {
      await route.abort();
    }
  });
  try {
    // /prod/console moves to /prod/console/ (relative, so the stage stays);
    // Playwright does not route where a redirect leads, so go there.
    const moved = await fetch(`${origin}/console`, { redirect: 'manual' });
    assert.equal(moved.headers.get('location'), 'console/');
    await page.goto(consoleUrl);
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    await accessible(page, 'sign-in (hosted UI)');
    await page.getByRole('button', { name: 'Sign in with your staff account' }).click();
    await page.getByRole('heading', { level: 1, name: 'The day' }).waitFor();
    assert.match(await page.locator('#who').innerText(), /cora/);

    const a = seen.authorize;
    assert.equal(a.response_type, 'code');
    assert.equal(a.client_id, 'console-client');
    assert.equal(a.redirect_uri, consoleUrl);
    assert.equal(a.code_challenge_method, 'S256');
    const t = seen.token;
    assert.equal(t.grant_type, 'authorization_code');
    assert.equal(t.code, 'the-code');
    assert.equal(t.redirect_uri, consoleUrl);
    assert.equal(createHash('sha256').update(t.code_verifier).digest('base64url'), a.code_challenge, 'PKCE');
    assert.equal(await page.evaluate(() => sessionStorage.getItem('navigator.console.token')), idToken, 'the ID token');
    assert.ok(!page.url().includes('code='), 'the code left the address bar');

    // The API under the stage too.
    await page.getByRole('link', { name: 'The funnel' }).click();
    await page.getByRole('heading', { level: 1, name: 'The funnel' }).waitFor();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    assert.deepEqual(seen.logout, { client_id: 'console-client', logout_uri: consoleUrl });
    assert.equal(await page.evaluate(() => sessionStorage.getItem('navigator.console.token')), null);
    assert.deepEqual(seen.outside, [], 'every request kept the stage');
  } finally {
    await context.close();
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
  }
});

test('no page logged a script error or a policy violation', () => {
  assert.deepEqual(problems, []);
});
