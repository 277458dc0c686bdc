// Reference data, for admins: the lists the rest of the console picks
// from (conditions, hospitals, specializations, trials, programs), and a
// form to add to each.

import { api, all } from './api.js';
import { h, show, table, label, form, announce } from './ui.js';

const TRIAL_STATUSES = ['not_yet_recruiting', 'recruiting', 'active_not_recruiting', 'completed', 'terminated', 'withdrawn'];
const PROGRAM_STATUSES = ['planned', 'open', 'closed'];

const KINDS = {
  'medical-conditions': {
    title: 'Medical conditions',
    columns: [['Name', 'name'], ['Abbreviation', 'abbreviation']],
    fields: () => [
      { name: 'name', label: 'Name', required: true },
      { name: 'abbreviation', label: 'Abbreviation', required: true },
    ],
  },
  hospitals: {
    title: 'Hospitals',
    columns: [['Name', 'name'], ['City', 'city'], ['Country', 'country']],
    fields: () => [
      { name: 'name', label: 'Name', required: true },
      { name: 'city', label: 'City', required: true },
      { name: 'country', label: 'Country' },
    ],
  },
  specializations: {
    title: 'Specializations',
    columns: [['Name', 'name']],
    fields: () => [{ name: 'name', label: 'Name', required: true }],
  },
  'clinical-trials': {
    title: 'Clinical trials',
    columns: [['Registry id', 'registry_id'], ['Title', 'title'], ['Status', 'status']],
    fields: (conditions) => [
      { name: 'registry_id', label: 'Registry id', required: true, hint: 'For example NCT01234567.' },
      { name: 'title', label: 'Title' },
      { name: 'medical_condition_id', label: 'Medical condition', type: 'select', options: conditions },
      { name: 'status', label: 'Status', type: 'select', options: TRIAL_STATUSES.map((s) => [s, label(s)]) },
    ],
  },
  'expanded-access-programs': {
    title: 'Expanded Access Programs',
    columns: [['EAP number', 'eap_number'], ['Product', 'product'], ['Status', 'status']],
    fields: (conditions) => [
      { name: 'eap_number', label: 'EAP number', required: true },
      { name: 'product', label: 'Product', required: true },
      { name: 'medical_condition_id', label: 'Medical condition', type: 'select', options: conditions },
      { name: 'status', label: 'Status', type: 'select', options: PROGRAM_STATUSES.map((s) => [s, s]) },
    ],
  },
};

export async function render(main, kind = 'medical-conditions') {
  const spec = KINDS[kind];
  if (!spec) { location.replace('#/reference'); return; }
  document.title = `${spec.title} · Navigator console`;
  const [items, conditions] = await Promise.all([
    all(`/v1/${kind}`, {}, 1000),
    all('/v1/medical-conditions', {}, 1000),
  ]);
  show(main,
    h('h1', { tabindex: '-1' }, 'Reference data'),
    h('nav', { 'aria-label': 'Reference data', class: 'tabs' }, h('ul', {},
      Object.entries(KINDS).map(([name, s]) => h('li', {},
        h('a', { href: `#/reference/${name}`, 'aria-current': name === kind ? 'page' : null }, s.title))))),
    h('section', { 'aria-labelledby': 'list' },
      h('h2', { id: 'list' }, `${spec.title} (${items.length})`),
      table(spec.title, spec.columns.map(([heading, field]) => [heading, (row) => (field === 'status' ? label(row[field]) : row[field] ?? '—')]), items)),
    h('section', { 'aria-labelledby': 'add' },
      h('h2', { id: 'add' }, 'Add'),
      form({
        submit: `Add to ${spec.title.toLowerCase()}`,
        fields: spec.fields(conditions.map((c) => [c.id, c.name])),
        onSubmit: async (values) => {
          await api('POST', `/v1/${kind}`, { body: values });
          await render(main, kind);
          announce('Added.');
        },
      })));
}
