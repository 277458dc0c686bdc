// The day: the API's work queues, each a plain filtered list (no request
// of the console's own). My calls today and this week (navigator=me),
// reminders due, new leads without a call booked, converted patients
// waiting for a physician, referrals awaiting an eligibility decision.
// Every row leads to its patient in one click.

import { all, get, people, holder } from './api.js';
import * as auth from './auth.js';
import { h, show, table, time, when, day as dayOf, label, personName } from './ui.js';

function startOfDay(date) {
  const d = new Date(date);
  d.setHours(0, 0, 0, 0);
  return d;
}

function addDays(date, days) {
  const d = new Date(date);
  d.setDate(d.getDate() + days);
  return d;
}

/** Names of these patients, for roles that may see them (one read each). */
async function names(ids) {
  const unique = [...new Set(ids)].slice(0, 50);
  const found = new Map();
  await Promise.all(unique.map(async (id) => {
    try { found.set(id, await get(`/v1/patients/${id}`)); } catch { /* shown by id */ }
  }));
  return found;
}

/** One queue: a heading with its count, and its rows (or why it is empty). */
function queue(id, heading, rows, columns, empty, total = rows.length) {
  const more = total > rows.length ? `${rows.length} of ${total}` : String(rows.length);
  return h('section', { 'aria-labelledby': id },
    h('h2', { id }, `${heading} (${more})`),
    table(heading, columns, rows, empty));
}

export async function render(main) {
  document.title = 'The day · Navigator console';
  const today = startOfDay(new Date());
  const monday = addDays(today, -((today.getDay() + 6) % 7));
  const mine = auth.allows('navigator');
  // A viewer holds no calls: they see the team's (without personal data).
  const calls = (query) => all('/v1/calls', { navigator: mine ? 'me' : undefined, ...query }, 200);
  const byScheduled = (from, to) => calls({
    scheduled_from: from.toISOString(), scheduled_to: to.toISOString(), sort: 'scheduled_at',
  });
  const [who, todays, weeks, reminders, leads, waiting, referrals, trials] = await Promise.all([
    people(),
    byScheduled(today, addDays(today, 1)),
    byScheduled(monday, addDays(monday, 7)),
    all('/v1/calls', { reminder_due: true, sort: 'reminder_at' }, 200),
    get('/v1/patients', { status: 'lead', call_booked: false, sort: '-created_at', limit: 50, count: true }),
    get('/v1/patients', { status: 'patient', has_physician: false, sort: 'converted_at', limit: 50, count: true }),
    all('/v1/trial-referrals', { eligibility: 'pending', sort: 'referred_at' }, 200),
    all('/v1/clinical-trials', {}, 1000),
  ]);
  // The calls and referrals name their patient by id; the lists of people
  // carry the names already (for the roles that may see them).
  const known = mine
    ? await names([...todays, ...weeks, ...reminders, ...referrals].map((r) => r.patient_id))
    : new Map();
  for (const p of [...leads.items, ...waiting.items]) known.set(p.id, p);
  const patient = (id) => h('a', { href: `#/patients/${id}` }, personName(known.get(id) || { id, status: 'lead' }));
  const trialName = new Map(trials.map((t) => [t.id, t.title || t.registry_id]));
  const callColumns = (at) => [
    ['When', (c) => at(c.scheduled_at)],
    ['Patient', (c) => patient(c.patient_id)],
    ['Status', (c) => h('span', { class: `badge ${c.status}` }, label(c.status))],
    ...(mine ? [] : [['Navigator', (c) => holder(c, who)]]),
  ];
  const personColumns = (date, at) => [
    ['Person', (p) => patient(p.id)],
    [date, (p) => dayOf(p[at])],
  ];
  const mineOr = (text) => (mine ? `My calls ${text}` : `Calls ${text}`);
  show(main,
    h('h1', { tabindex: '-1' }, 'The day'),
    h('p', { class: 'lede' }, mine
      ? `Calls held by ${who.me.display_name || who.me.subject}, and the team’s queues.`
      : 'The team’s calls and queues, without personal data.'),
    queue('today', mineOr('today'), todays, callColumns(time), 'No calls today.'),
    queue('week', mineOr('this week'), weeks, callColumns(when), 'No calls this week.'),
    queue('reminders', 'Reminders due', reminders, [
      ['Reminder', (c) => when(c.reminder_at)],
      ['Call', (c) => when(c.scheduled_at)],
      ['Patient', (c) => patient(c.patient_id)],
      ['Navigator', (c) => holder(c, who)],
    ], 'No reminder is due.'),
    queue('leads', 'New leads without a call booked', leads.items,
      personColumns('First contact', 'first_contact_at'), 'Every lead has a call booked.', leads.total),
    queue('physician', 'Patients waiting for a physician', waiting.items,
      personColumns('Converted', 'converted_at'), 'Every patient has a physician.', waiting.total),
    queue('pending', 'Referrals awaiting an eligibility decision', referrals, [
      ['Referred', (r) => dayOf(r.referred_at)],
      ['Patient', (r) => patient(r.patient_id)],
      ['Trial', (r) => trialName.get(r.trial_id) || r.trial_id],
      ['Outcome', (r) => label(r.outcome)],
    ], 'No referral is awaiting a decision.'));
}
