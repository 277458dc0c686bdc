// The funnel, for managers (viewers and up): the API's metrics over a
// period of months (GET /v1/metrics/funnel, /calls, /referrals,
// /enrollments: counts only, no personal data), per month and per medical
// condition, as tables, with the leads and conversions per month drawn as
// a bar chart (SVG made with DOM calls: nothing inline for the policy to
// refuse). The chart is an image with a text alternative; its figures are
// in the table beside it.

import { all, get } from './api.js';
import { h, svg, show, table, label } from './ui.js';

const MONTH = /^\d{4}-(0[1-9]|1[0-2])$/;
const MOST = 60;

/** The month `n` months after `month` (both `YYYY-MM`). */
function shift(month, n) {
  const [y, m] = month.split('-').map(Number);
  const d = new Date(Date.UTC(y, m - 1 + n, 1));
  return d.toISOString().slice(0, 7);
}

/** Every month from `from` to `to`, both included. */
function months(from, to) {
  const out = [];
  for (let m = from; m <= to && out.length <= MOST; m = shift(m, 1)) out.push(m);
  return out;
}

const monthName = new Intl.DateTimeFormat(undefined, { month: 'short', year: 'numeric', timeZone: 'UTC' });
const short = new Intl.DateTimeFormat(undefined, { month: 'short', timeZone: 'UTC' });
const percent = new Intl.NumberFormat(undefined, { style: 'percent', maximumFractionDigits: 1 });
const decimal = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
const monthOf = (month, format = monthName) => format.format(new Date(`${month}-01T00:00:00Z`));
const rate = (part, whole) => (whole ? percent.format(part / whole) : '—');
const num = 'num';

/** Leads and conversions added up by `key` (a month, a condition). */
function totals(rows, key) {
  const sums = new Map();
  for (const r of rows) {
    const t = sums.get(key(r)) || { leads: 0, converted: 0 };
    t.leads += r.leads_created;
    t.converted += r.leads_converted;
    sums.set(key(r), t);
  }
  return sums;
}

/** Leads and conversions per month as grouped bars, with value labels. */
function chart(rows, summary) {
  const height = 220;
  const left = 40;
  const band = 56;
  const width = left + rows.length * band + 8;
  const step = Math.max(1, Math.ceil(Math.max(...rows.map((r) => r.leads)) / 4));
  const y = (v) => 12 + (height - 12) * (1 - v / (step * 4));
  const bar = (kind, x, value, text) => [
    svg('rect', { class: kind, x, y: y(value), width: 18, height: height - y(value) }, svg('title', {}, text)),
    svg('text', { class: 'value', x: x + 9, y: y(value) - 3, 'text-anchor': 'middle' }, String(value)),
  ];
  return svg('svg', {
    class: 'chart', viewBox: `0 0 ${width} ${height + 24}`, width, height: height + 24,
    role: 'img', 'aria-labelledby': 'chart-title', 'aria-describedby': 'chart-desc',
  },
  svg('title', { id: 'chart-title' }, 'Leads and conversions per month'),
  svg('desc', { id: 'chart-desc' }, summary),
  [0, 1, 2, 3, 4].map((i) => [
    svg('line', { class: 'grid', x1: left, x2: width, y1: y(i * step), y2: y(i * step) }),
    svg('text', { class: 'tick', x: left - 6, y: y(i * step) + 4, 'text-anchor': 'end' }, String(i * step)),
  ]),
  rows.map((r, i) => {
    const x = left + i * band + 9;
    return [
      bar('leads', x, r.leads, `${monthOf(r.month)}: ${r.leads} lead${r.leads === 1 ? '' : 's'}`),
      bar('converted', x + 20, r.converted, `${monthOf(r.month)}: ${r.converted} converted`),
      svg('text', { class: 'tick', x: x + 19, y: height + 16, 'text-anchor': 'middle' }, monthOf(r.month, short)),
    ];
  }));
}

/** The period form: from and to months, and a medical condition. */
function periodForm(from, to, condition, conditions) {
  const error = h('p', { class: 'form-error', id: 'period-error', role: 'alert' });
  const field = (id, text, input) => h('div', { class: 'field' }, h('label', { for: id }, text), input);
  const month = (id, value) => h('input', { id, name: id, type: 'month', value, required: true, 'aria-describedby': 'period-error' });
  const select = h('select', { id: 'condition', name: 'condition' },
    h('option', { value: '' }, 'All conditions'),
    conditions.map((c) => h('option', { value: c.id, selected: c.id === condition }, c.name)),
    h('option', { value: 'none', selected: condition === 'none' }, 'None recorded'));
  const form = h('form', { class: 'period', 'aria-label': 'Period and condition', novalidate: true },
    field('from', 'From (month)', month('from', from)),
    field('to', 'To (month)', month('to', to)),
    field('condition', 'Medical condition', select),
    h('button', { type: 'submit' }, 'Show'),
    error);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const [a, b] = [form.elements.from.value, form.elements.to.value];
    const wrong = !MONTH.test(a) || !MONTH.test(b) ? 'Give both months (YYYY-MM).'
      : a > b ? 'The first month comes after the last.'
        : months(a, b).length > MOST ? `Choose at most ${MOST} months.` : '';
    for (const input of [form.elements.from, form.elements.to]) {
      if (wrong) input.setAttribute('aria-invalid', 'true'); else input.removeAttribute('aria-invalid');
    }
    if (wrong) {
      error.textContent = wrong;
      form.elements.from.focus();
      return;
    }
    const query = new URLSearchParams({ from: a, to: b });
    if (select.value) query.set('condition', select.value);
    location.hash = `#/funnel?${query}`;
  });
  return form;
}

export async function render(main, query = '') {
  document.title = 'The funnel · Navigator console';
  const params = new URLSearchParams(query);
  const to = MONTH.test(params.get('to')) ? params.get('to') : new Date().toISOString().slice(0, 7);
  let from = MONTH.test(params.get('from')) ? params.get('from') : shift(to, -11);
  if (from > to || months(from, to).length > MOST) from = shift(to, -11);
  const condition = params.get('condition') || '';
  // The metrics' period is whole months, both included.
  const period = { from, to };
  const [funnel, calls, referrals, enrollments, conditions] = await Promise.all([
    get('/v1/metrics/funnel', period),
    get('/v1/metrics/calls', period),
    get('/v1/metrics/referrals', period),
    get('/v1/metrics/enrollments', period),
    all('/v1/medical-conditions', {}, 1000),
  ]);
  const names = new Map(conditions.map((c) => [c.id, c.name]));
  const conditionName = (id) => (id ? names.get(id) || id : 'None recorded');
  const keep = (r) => !condition || r.medical_condition_id === (condition === 'none' ? null : condition);
  const [rows, callRows, referralRows, enrollmentRows] = [funnel, calls, referrals, enrollments].map((x) => x.filter(keep));

  const byMonth = totals(rows, (r) => r.month);
  const perMonth = months(from, to).map((month) => ({ month, leads: 0, converted: 0, ...byMonth.get(month) }));
  const perCondition = [...totals(rows, (r) => r.medical_condition_id)]
    .map(([id, t]) => ({ id, ...t }))
    .sort((a, b) => conditionName(a.id).localeCompare(conditionName(b.id)));
  const leads = perMonth.reduce((n, r) => n + r.leads, 0);
  const converted = perMonth.reduce((n, r) => n + r.converted, 0);
  const span = `${monthOf(from)} to ${monthOf(to)}`;
  const scope = condition ? conditionName(condition === 'none' ? null : condition) : 'all conditions';
  const monthCell = (r) => monthOf(r.month);
  const sums = [
    ['Leads', (r) => r.leads, num],
    ['Converted', (r) => r.converted, num],
    ['Conversion rate', (r) => rate(r.converted, r.leads), num],
  ];
  // A section of the API's rows, each named by its month and condition.
  const breakdown = (id, heading, caption, columns, list, empty) => h('section', { 'aria-labelledby': id },
    h('h2', { id }, heading),
    table(caption, [['Month', monthCell], ['Medical condition', (r) => conditionName(r.medical_condition_id)], ...columns], list, empty));

  show(main,
    h('h1', { tabindex: '-1' }, 'The funnel'),
    h('p', { class: 'lede' }, `Leads by the month of their first contact, and what became of them: ${span}, ${scope}. Counts only, no personal data.`),
    periodForm(from, to, condition, conditions),
    h('dl', { class: 'figures' },
      h('div', {}, h('dt', {}, 'Leads'), h('dd', { id: 'total-leads' }, String(leads))),
      h('div', {}, h('dt', {}, 'Converted'), h('dd', { id: 'total-converted' }, String(converted))),
      h('div', {}, h('dt', {}, 'Conversion rate'), h('dd', { id: 'total-rate' }, rate(converted, leads)))),
    h('section', { 'aria-labelledby': 'per-month' },
      h('h2', { id: 'per-month' }, 'Leads and conversions per month'),
      h('div', { class: 'chart-box' },
        chart(perMonth, `${span}, ${scope}: ${leads} leads, ${converted} converted. The figures are in the table “Per month” below.`),
        h('ul', { class: 'legend', 'aria-hidden': 'true' },
          h('li', {}, h('span', { class: 'swatch leads' }), 'Leads'),
          h('li', {}, h('span', { class: 'swatch converted' }), 'Converted'))),
      h('h3', { id: 'per-month-table' }, 'Per month'),
      table('Leads and conversions per month', [['Month', monthCell], ...sums], perMonth)),
    h('section', { 'aria-labelledby': 'per-condition' },
      h('h2', { id: 'per-condition' }, 'Per medical condition'),
      table('Leads and conversions per medical condition', [['Medical condition', (r) => conditionName(r.id)], ...sums],
        perCondition, 'No lead in this period.')),
    breakdown('per-month-condition', 'Per month and medical condition', 'Leads and conversions per month and medical condition', [
      ['Leads', (r) => r.leads_created, num],
      ['Converted', (r) => r.leads_converted, num],
      ['Conversion rate', (r) => rate(r.leads_converted, r.leads_created), num],
      ['Median days to conversion', (r) => (r.median_days_to_conversion === null ? '—' : decimal.format(r.median_days_to_conversion)), num],
    ], rows, 'No lead in this period.'),
    breakdown('calls', 'Calls', 'Calls per month and medical condition', [
      ['Held', (r) => r.calls_held, num],
      ['No-shows', (r) => r.no_shows, num],
      ['No-show rate', (r) => rate(r.no_shows, r.calls_held + r.no_shows), num],
    ], callRows, 'No call in this period.'),
    breakdown('referrals', 'Clinical-trial referrals', 'Referrals per month, medical condition, eligibility and outcome', [
      ['Eligibility', (r) => label(r.eligibility)],
      ['Outcome', (r) => label(r.outcome)],
      ['Referrals', (r) => r.referrals, num],
    ], referralRows, 'No referral in this period.'),
    breakdown('enrollments', 'Expanded Access Program enrollments', 'Enrollments per month, medical condition and status', [
      ['Status', (r) => label(r.status)],
      ['Enrollments', (r) => r.enrollments, num],
    ], enrollmentRows, 'No enrollment in this period.'));
}
