// The patient page: the person and everything about them in one request
// (include=calls,submissions,referrals,enrollments,physician), their
// history, and the day's work on them. Every change of an existing record
// sends If-Match with the version this page showed: if someone changed it
// meanwhile, the API answers 412 and the page says so.

import { api, all, get, people, holder } from './api.js';
import * as auth from './auth.js';
import { h, show, table, when, day, label, personName, form, actionButton, announce, localInput } from './ui.js';

const INCLUDE = 'calls,submissions,referrals,enrollments,physician';

export async function render(main, id) {
  const navigator = auth.allows('navigator');
  const admin = auth.allows('admin');
  const [p, who, conditions, trials, programs, physicians, history] = await Promise.all([
    get(`/v1/patients/${id}`, { include: INCLUDE }),
    people(),
    all('/v1/medical-conditions', {}, 1000),
    all('/v1/clinical-trials', {}, 1000),
    all('/v1/expanded-access-programs', {}, 1000),
    navigator ? all('/v1/practitioners', { kind: 'physician' }, 1000) : [],
    navigator ? get(`/v1/patients/${id}/history`, { limit: 50 }) : null,
  ]);
  const name = personName(p);
  document.title = `${name} · Navigator console`;
  const condition = new Map(conditions.map((c) => [c.id, c.name]));
  const trial = new Map(trials.map((t) => [t.id, t.title ? `${t.registry_id} · ${t.title}` : t.registry_id]));
  const program = new Map(programs.map((x) => [x.id, `${x.eap_number} · ${x.product}`]));
  const physicianName = (d) => (d ? [d.first_name, d.last_name].filter(Boolean).join(' ') || `Physician ${d.id.slice(0, 8)}` : '—');
  const editable = navigator && !p.erased_at;
  const again = async (message) => { await render(main, id); announce(message); };
  const errorBox = () => h('p', { class: 'form-error', role: 'alert' });

  // A row for each property the API sent: what a role may not see, the
  // API leaves out, and so does the page.
  const row = (key, heading, value) => (key in p ? [h('dt', {}, heading), h('dd', {}, value)] : null);
  const details = h('dl', { class: 'details' },
    row('email', 'Email', p.email || '—'),
    row('phone', 'Phone', p.phone || '—'),
    row('medical_condition_id', 'Medical condition', condition.get(p.medical_condition_id) || '—'),
    row('physician', 'Physician', physicianName(p.physician)),
    h('dt', {}, 'First contact'), h('dd', {}, when(p.first_contact_at)),
    h('dt', {}, 'Initial consult'), h('dd', {}, when(p.initial_consult_at)),
    h('dt', {}, 'Converted'), h('dd', {}, when(p.converted_at)),
    p.erased_at ? [h('dt', {}, 'Personal data erased'), h('dd', {}, when(p.erased_at))] : null,
    h('dt', {}, 'Version'), h('dd', {}, String(p.version)));

  const headerActions = [];
  if (editable && p.status === 'lead') {
    const box = errorBox();
    headerActions.push(h('div', { class: 'actions' },
      actionButton('Convert to patient', async () => {
        await api('POST', `/v1/patients/${id}/convert`, { version: p.version });
        await again('Converted: the lead is now a patient.');
      }, box, { id: 'convert' }),
      box));
  }

  const calls = [...(p.calls || [])].sort((a, b) => b.scheduled_at.localeCompare(a.scheduled_at));
  const callsBox = errorBox();
  const callColumns = [
    ['Scheduled', (c) => when(c.scheduled_at)],
    ['Navigator', (c) => holder(c, who)],
    ['Status', (c) => h('span', { class: `badge ${c.status}` }, label(c.status))],
    ...(navigator ? [['Notes', (c) => c.notes || '']] : []),
    ...(editable ? [['Outcome', (c) => (c.status === 'scheduled'
      ? h('span', { class: 'row-actions' },
        actionButton('Completed', async () => {
          await api('PATCH', `/v1/calls/${c.id}`, { body: { status: 'completed' }, version: c.version });
          await again('The call is marked completed.');
        }, callsBox, { 'aria-label': `Mark the call of ${when(c.scheduled_at)} completed` }),
        actionButton('No-show', async () => {
          await api('PATCH', `/v1/calls/${c.id}`, { body: { status: 'no_show' }, version: c.version });
          await again('The call is marked as a no-show.');
        }, callsBox, { 'aria-label': `Mark the call of ${when(c.scheduled_at)} a no-show` }))
      : '')]] : []),
  ];

  const sections = [
    h('section', { 'aria-labelledby': 'calls' },
      h('h2', { id: 'calls' }, `Calls (${calls.length})`),
      table('Calls', callColumns, calls, 'No call yet.'), callsBox,
      editable ? form({
        title: 'Log a call',
        submit: 'Log the call',
        fields: [
          { name: 'scheduled_at', label: 'When', type: 'datetime-local', required: true, value: localInput(new Date()) },
          { name: 'status', label: 'Status', type: 'select', required: true, value: 'completed', options: [['scheduled', 'scheduled'], ['completed', 'completed'], ['no_show', 'no-show']] },
          { name: 'notes', label: 'Notes', type: 'textarea' },
        ],
        onSubmit: async (values) => {
          await api('POST', '/v1/calls', { body: { ...values, patient_id: id, navigator_id: who.me.id } });
          await again('Call logged.');
        },
      }) : null),
  ];

  const referrals = p.referrals || [];
  sections.push(h('section', { 'aria-labelledby': 'referrals' },
    h('h2', { id: 'referrals' }, `Clinical-trial referrals (${referrals.length})`),
    table('Referrals', [
      ['Trial', (r) => trial.get(r.trial_id) || r.trial_id],
      ['Referred', (r) => day(r.referred_at)],
      ['Eligibility', (r) => label(r.eligibility)],
      ['Outcome', (r) => label(r.outcome)],
    ], referrals, 'No referral yet.'),
    editable && p.status === 'patient' && p.physician_id ? form({
      title: 'Refer to a trial',
      submit: 'Refer',
      fields: [{ name: 'trial_id', label: 'Clinical trial', type: 'select', required: true, options: trials.map((t) => [t.id, trial.get(t.id)]) }],
      onSubmit: async (values) => {
        await api('POST', '/v1/trial-referrals', { body: { ...values, patient_id: id, physician_id: p.physician_id } });
        await again('Referred to the trial.');
      },
    }) : null));

  const enrollments = p.enrollments || [];
  sections.push(h('section', { 'aria-labelledby': 'enrollments' },
    h('h2', { id: 'enrollments' }, `Expanded Access Program enrollments (${enrollments.length})`),
    table('Enrollments', [
      ['Program', (e) => program.get(e.program_id) || e.program_id],
      ['Enrolled', (e) => day(e.enrolled_at)],
      ['Status', (e) => label(e.status)],
    ], enrollments, 'No enrollment yet.'),
    editable && p.status === 'patient' && p.physician_id ? form({
      title: 'Enroll in a program',
      submit: 'Enroll',
      fields: [
        { name: 'program_id', label: 'Program', type: 'select', required: true, options: programs.map((x) => [x.id, program.get(x.id)]) },
        { name: 'status', label: 'Status', type: 'select', required: true, value: 'pending', options: ['pending', 'active'].map((s) => [s, s]) },
      ],
      onSubmit: async (values) => {
        await api('POST', '/v1/eap-enrollments', { body: { ...values, patient_id: id, physician_id: p.physician_id } });
        await again('Enrolled in the program.');
      },
    }) : null));

  if (editable && p.status === 'patient' && !p.physician_id) {
    sections.push(h('p', { class: 'note' }, 'Referrals and enrollments need a physician: assign one below.'));
  }

  const submissions = p.submissions || [];
  sections.push(h('section', { 'aria-labelledby': 'submissions' },
    h('h2', { id: 'submissions' }, `Form submissions (${submissions.length})`),
    table('Submissions', [
      ['Received', (s) => when(s.submitted_at)],
      ['Form', (s) => label(s.channel)],
      ['Asked to be called', (s) => when(s.requested_call_at)],
      ...(navigator ? [['Condition as typed', (s) => s.medical_condition || '—']] : []),
    ], submissions, 'No form submission.')));

  if (editable) {
    sections.push(h('section', { 'aria-labelledby': 'edit' },
      h('h2', { id: 'edit' }, 'Change details'),
      h('div', { class: 'columns' },
        form({
          title: 'Contact details',
          submit: 'Save details',
          empty: 'null',
          fields: [
            { name: 'first_name', label: 'First name', value: p.first_name },
            { name: 'last_name', label: 'Last name', value: p.last_name },
            { name: 'email', label: 'Email', type: 'email', value: p.email },
            { name: 'phone', label: 'Phone', type: 'tel', value: p.phone },
            { name: 'medical_condition_id', label: 'Medical condition', type: 'select', value: p.medical_condition_id, options: conditions.map((c) => [c.id, c.name]) },
          ],
          onSubmit: async (values) => {
            await api('PATCH', `/v1/patients/${id}`, { body: values, version: p.version });
            await again('Details saved.');
          },
        }),
        form({
          title: 'Assign a physician',
          submit: 'Assign the physician',
          empty: 'null',
          fields: [{ name: 'physician_id', label: 'Physician', type: 'select', value: p.physician_id, placeholder: '(none)', options: physicians.map((d) => [d.id, physicianName(d)]) }],
          onSubmit: async (values) => {
            await api('PATCH', `/v1/patients/${id}`, { body: values, version: p.version });
            await again('Physician assigned.');
          },
        }))));
  }

  if (history) {
    sections.push(h('section', { 'aria-labelledby': 'history' },
      h('h2', { id: 'history' }, 'History'),
      table('History', [
        ['When', (e) => when(e.at)],
        ['Who', (e) => e.actor],
        ['What', (e) => `${e.action}: ${Object.keys(e.changes || {}).map(label).join(', ') || '—'}`],
        ['Version', (e) => String(e.version)],
      ], [...history.items].reverse(), 'No history.')));
  }

  if (admin && !p.erased_at) {
    sections.push(h('section', { 'aria-labelledby': 'erase', class: 'danger' },
      h('h2', { id: 'erase' }, 'Erase personal data'),
      h('p', {}, 'Removes names, contact details, the medical condition, call notes and what the forms said, here and in the history. Ids, statuses and dates stay. This cannot be undone.'),
      form({
        submit: 'Erase this person’s personal data',
        fields: [{ name: 'reason', label: 'Reason (the request’s reference; not the person’s data)', required: true }],
        onSubmit: async (values) => {
          await api('POST', `/v1/patients/${id}/erase`, { body: values });
          await again('Personal data erased.');
        },
      })));
  }

  show(main,
    h('p', { class: 'crumbs' }, h('a', { href: '#/search' }, 'Patients')),
    h('h1', { tabindex: '-1' }, name, ' ', h('span', { class: `badge ${p.status}` }, p.status)),
    navigator ? null : h('p', { class: 'lede' }, 'Personal data is not shown to your role.'),
    details,
    headerActions,
    sections);
}
