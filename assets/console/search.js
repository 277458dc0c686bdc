// Patients: search as you type (GET /v1/patients?q=, names today; issue 24
// widens q to emails, phones, practitioners and hospitals), and a new lead.
// A viewer may not search by name (it would say who is a patient): they get
// the list by status, without personal data.

import { api, all, get } from './api.js';
import * as auth from './auth.js';
import { h, show, table, day, personName, form, announce } from './ui.js';

let controller;

export async function render(main) {
  document.title = 'Patients · Navigator console';
  if (!auth.allows('navigator')) return viewerList(main);
  const results = h('div', { id: 'results', 'aria-live': 'polite' });
  const input = h('input', {
    id: 'q', type: 'search', name: 'q', autocomplete: 'off', maxlength: 200,
    'aria-describedby': 'q-hint', 'aria-controls': 'results',
  });
  let timer;
  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => find(input.value, results), 250);
  });
  const conditions = await all('/v1/medical-conditions', {}, 1000);
  show(main,
    h('h1', { tabindex: '-1' }, 'Patients'),
    h('form', { class: 'search', role: 'search', onsubmit: (e) => { e.preventDefault(); find(input.value, results); } },
      h('label', { for: 'q' }, 'Find a lead or patient'),
      h('span', { class: 'hint', id: 'q-hint' }, 'Type part of a first or last name; results appear as you type.'),
      input),
    results,
    h('section', { 'aria-labelledby': 'new-lead' },
      h('h2', { id: 'new-lead' }, 'New lead'),
      form({
        submit: 'Create the lead',
        fields: [
          { name: 'first_name', label: 'First name' },
          { name: 'last_name', label: 'Last name' },
          { name: 'email', label: 'Email', type: 'email', hint: 'An email or a phone number is required.' },
          { name: 'phone', label: 'Phone', type: 'tel' },
          { name: 'medical_condition_id', label: 'Medical condition', type: 'select', options: conditions.map((c) => [c.id, c.name]) },
        ],
        onSubmit: async (values) => {
          const lead = await api('POST', '/v1/patients', { body: values });
          announce('Lead created.');
          location.hash = `#/patients/${lead.id}`;
        },
      })));
  input.focus();
}

async function find(text, results) {
  const q = text.trim();
  controller?.abort();
  if (q.length < 2) { show(results); return; }
  controller = new AbortController();
  const signal = controller.signal;
  try {
    const page = await get('/v1/patients', { q, limit: 20 });
    if (signal.aborted) return;
    show(results,
      h('h2', {}, `${page.items.length}${page.next_cursor ? '+' : ''} found`),
      page.items.length
        ? h('ul', { class: 'results' }, page.items.map((p) => h('li', {},
          h('a', { href: `#/patients/${p.id}` }, personName(p)), ' ',
          h('span', { class: `badge ${p.status}` }, p.status), ' ',
          h('span', { class: 'muted' }, [p.email, p.phone].filter(Boolean).join(' · ')))))
        : h('p', { class: 'empty' }, 'No lead or patient has that name.'));
  } catch (err) {
    if (!signal.aborted) show(results, h('p', { role: 'alert' }, err.message));
  }
}

async function viewerList(main) {
  const page = await get('/v1/patients', { limit: 50 });
  show(main,
    h('h1', { tabindex: '-1' }, 'Patients'),
    h('p', { class: 'lede' }, 'Your role sees records without personal data; searching by name needs the navigator role.'),
    h('h2', {}, 'Leads and patients (the first 50)'),
    table('Leads and patients', [
      ['Record', (p) => h('a', { href: `#/patients/${p.id}` }, personName(p))],
      ['Status', (p) => p.status],
      ['First contact', (p) => day(p.first_contact_at)],
      ['Converted', (p) => day(p.converted_at)],
    ], page.items));
}
