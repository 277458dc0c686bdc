// The day: what today's API can answer as plain filtered lists. My calls
// today and this week (calls whose navigator is me, by scheduled_at), and
// referrals awaiting an eligibility decision. Reminders due and new leads
// without a call wait for the work queues of issue 24.

import { all, get } from './api.js';
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
export async function names(ids) {
  const unique = [...new Set(ids)].slice(0, 50);
  const found = new Map();
  await Promise.all(unique.map(async (id) => {
    try { found.set(id, await get(`/v1/patients/${id}`)); } catch { /* shown by id */ }
  }));
  return found;
}

function patientLink(id, people) {
  return h('a', { href: `#/patients/${id}` }, personName(people.get(id) || { id, status: 'lead' }));
}

export async function render(main) {
  document.title = 'The day · Navigator console';
  const today = startOfDay(new Date());
  const monday = addDays(today, -((today.getDay() + 6) % 7));
  const me = auth.subject();
  const mine = auth.allows('navigator');
  // A viewer holds no calls: they see the team's (without personal data).
  const calls = (from, to) => all('/v1/calls', {
    navigator: mine ? me : undefined, scheduled_from: from.toISOString(), scheduled_to: to.toISOString(),
  }, 200);
  const [todays, weeks, referrals, trials] = await Promise.all([
    calls(today, addDays(today, 1)),
    calls(monday, addDays(monday, 7)),
    all('/v1/trial-referrals', { eligibility: 'pending' }, 200),
    all('/v1/clinical-trials', {}, 1000),
  ]);
  const byScheduled = (a, b) => a.scheduled_at.localeCompare(b.scheduled_at);
  todays.sort(byScheduled);
  weeks.sort(byScheduled);
  const people = mine
    ? await names([...todays, ...weeks, ...referrals].map((r) => r.patient_id))
    : new Map();
  const trialName = new Map(trials.map((t) => [t.id, t.title || t.registry_id]));
  const callColumns = (at) => [
    ['When', (c) => at(c.scheduled_at)],
    ['Patient', (c) => patientLink(c.patient_id, people)],
    ['Status', (c) => h('span', { class: `badge ${c.status}` }, label(c.status))],
    ...(mine ? [] : [['Navigator', (c) => c.navigator || '—']]),
  ];
  show(main,
    h('h1', { tabindex: '-1' }, 'The day'),
    h('p', { class: 'lede' }, mine
      ? `Calls held by ${me}, and the team’s referrals awaiting a decision.`
      : 'The team’s calls and referrals, without personal data.'),
    h('section', { 'aria-labelledby': 'today' },
      h('h2', { id: 'today' }, `${mine ? 'My calls' : 'Calls'} today (${todays.length})`),
      table('Calls today', callColumns(time), todays, 'No calls today.')),
    h('section', { 'aria-labelledby': 'week' },
      h('h2', { id: 'week' }, `${mine ? 'My calls' : 'Calls'} this week (${weeks.length})`),
      table('Calls this week', callColumns(when), weeks, 'No calls this week.')),
    h('section', { 'aria-labelledby': 'pending' },
      h('h2', { id: 'pending' }, `Referrals awaiting an eligibility decision (${referrals.length})`),
      table('Referrals awaiting a decision', [
        ['Referred', (r) => dayOf(r.referred_at)],
        ['Patient', (r) => patientLink(r.patient_id, people)],
        ['Trial', (r) => trialName.get(r.trial_id) || r.trial_id],
        ['Outcome', (r) => label(r.outcome)],
      ], referrals, 'No referral is awaiting a decision.')));
}
