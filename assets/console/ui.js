// Building blocks of every page: elements from data (never HTML strings,
// so nothing the API returns can become markup), dates, and forms whose
// problem+json errors land next to their fields.

import { Problem } from './api.js';

/** An element: h('a', { href: '#/day' }, 'The day'). */
export function h(tag, attrs = {}, ...children) {
  return fill(document.createElement(tag), attrs, children);
}

/** An SVG element, as h() makes HTML ones (presentation by class only:
 * the page's policy refuses style attributes). */
export function svg(tag, attrs = {}, ...children) {
  return fill(document.createElementNS('http://www.w3.org/2000/svg', tag), attrs, children);
}

function fill(el, attrs, children) {
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      el.addEventListener(name.slice(2), value);
    } else if (value === true) {
      el.setAttribute(name, '');
    } else {
      el.setAttribute(name, String(value));
    }
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Replaces a container's content. */
export function show(container, ...children) {
  container.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
}

/** Says something to the person (and to screen readers). */
let announced;

export function announce(text) {
  const status = document.getElementById('status');
  status.textContent = '';
  clearTimeout(announced);
  requestAnimationFrame(() => { status.textContent = text; });
  announced = setTimeout(() => { status.textContent = ''; }, 5000);
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const dateOnly = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });
const timeOnly = new Intl.DateTimeFormat(undefined, { timeStyle: 'short' });

export function when(iso) { return iso ? dateTime.format(new Date(iso)) : '—'; }
export function day(iso) { return iso ? dateOnly.format(new Date(iso)) : '—'; }
export function time(iso) { return iso ? timeOnly.format(new Date(iso)) : '—'; }

/** The value of a datetime-local input for a Date (local time). */
export function localInput(date) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/** A person's name, or what stands for it when it is withheld or erased. */
export function personName(p) {
  if (!p) return '—';
  if (!('first_name' in p) && !('last_name' in p)) return `${p.status === 'patient' ? 'Patient' : 'Lead'} ${p.id.slice(0, 8)}`;
  const name = [p.first_name, p.last_name].filter(Boolean).join(' ');
  return name || p.email || p.phone || `(no name) ${p.id.slice(0, 8)}`;
}

export function label(text) { return String(text).replaceAll('_', ' '); }

/** A table: columns are [heading, (row) => cell, class of its cells]. */
export function table(caption, columns, rows, empty = 'Nothing here.') {
  if (!rows.length) return h('p', { class: 'empty' }, empty);
  return h('table', {},
    h('caption', { class: 'visually-hidden' }, caption),
    h('thead', {}, h('tr', {}, columns.map(([heading, , c]) => h('th', { scope: 'col', class: c }, heading)))),
    h('tbody', {}, rows.map((row) => h('tr', {}, columns.map(([, cell, c]) => h('td', { class: c }, cell(row)))))));
}

let formCount = 0;

/**
 * A form. fields: [{ name, label, type, options: [[value, text]], required,
 * value, hint }]. onSubmit(values) may throw a Problem: its field errors are
 * shown beside the fields, anything else above the button. Empty inputs are
 * left out of values, or sent as null with { empty: 'null' }.
 */
export function form({ title, fields, submit, onSubmit, empty, className }) {
  const id = `f${++formCount}`;
  const summary = h('div', { class: 'form-error', id: `${id}-error`, role: 'alert' });
  const inputs = new Map();
  const errors = new Map();
  const rows = fields.map((f) => {
    const inputId = `${id}-${f.name}`;
    const error = h('span', { class: 'field-error', id: `${inputId}-error` });
    const hint = f.hint ? h('span', { class: 'hint', id: `${inputId}-hint` }, f.hint) : null;
    const common = {
      id: inputId, name: f.name, required: f.required,
      'aria-describedby': [hint ? `${inputId}-hint` : null, `${inputId}-error`].filter(Boolean).join(' '),
    };
    let input;
    if (f.type === 'select') {
      input = h('select', common,
        f.required ? null : h('option', { value: '' }, f.placeholder ?? '—'),
        (f.options || []).map(([value, text]) => h('option', { value, selected: value === f.value }, text)));
    } else if (f.type === 'textarea') {
      input = h('textarea', { ...common, rows: 3 }, f.value ?? '');
    } else {
      input = h('input', { ...common, type: f.type || 'text', value: f.value ?? '', autocomplete: 'off' });
    }
    inputs.set(f.name, input);
    errors.set(f.name, error);
    return h('div', { class: 'field' }, h('label', { for: inputId }, f.label), hint, input, error);
  });
  const button = h('button', { type: 'submit' }, submit);
  const el = h('form', { class: className || 'form', 'aria-labelledby': title ? `${id}-title` : null, novalidate: true },
    title ? h('h3', { id: `${id}-title` }, title) : null, rows, summary, button);

  const clear = () => {
    summary.textContent = '';
    for (const [name, error] of errors) {
      error.textContent = '';
      inputs.get(name).removeAttribute('aria-invalid');
    }
  };
  el.addEventListener('submit', async (event) => {
    event.preventDefault();
    clear();
    const values = {};
    for (const f of fields) {
      const raw = inputs.get(f.name).value.trim();
      if (raw === '') {
        if (empty === 'null') values[f.name] = null;
        continue;
      }
      values[f.name] = f.type === 'datetime-local' ? new Date(raw).toISOString() : raw;
    }
    button.disabled = true;
    try {
      await onSubmit(values);
    } catch (err) {
      showProblem(err, summary, (field, message) => {
        const name = field.replace(/^\//, '').split('/')[0];
        if (!errors.has(name)) return false;
        errors.get(name).textContent = message;
        inputs.get(name).setAttribute('aria-invalid', 'true');
        return true;
      });
      const invalid = el.querySelector('[aria-invalid="true"]');
      (invalid || summary).focus?.();
    } finally {
      button.disabled = false;
    }
  });
  return el;
}

/** Shows an error: each field error through placeField (false: not a field
 * of this form), the rest in summary. */
export function showProblem(err, summary, placeField = () => false) {
  if (!(err instanceof Problem)) {
    summary.textContent = 'The request did not reach the server; check the connection and try again.';
    return;
  }
  if (err.status === 412) {
    summary.replaceChildren(
      'Someone else changed this record after you opened it, so your change was not saved. ',
      h('a', { href: location.hash, class: 'reload', 'data-reload': '' }, 'Reload to see their change'),
      ', then make yours again.');
    return;
  }
  const rest = [];
  for (const e of err.errors) {
    // serde names a missing field at the body's root: place it on the field.
    const missing = e.field === '' && /missing field `([a-z_]+)`/.exec(e.message);
    const field = missing ? missing[1] : e.field;
    const message = missing ? 'is required' : e.message;
    if (!placeField(field, message)) rest.push(`${field.replace(/^\//, '')}: ${message}`);
  }
  const text = err.status === 403 ? 'Your role does not allow this.' : (err.detail || err.title);
  summary.textContent = [text, ...rest].filter(Boolean).join(' ');
}

/** A button that runs action(), showing its error in summary. */
export function actionButton(text, action, summary, attrs = {}) {
  const button = h('button', { type: 'button', ...attrs }, text);
  button.addEventListener('click', async () => {
    summary.textContent = '';
    button.disabled = true;
    try { await action(); } catch (err) { showProblem(err, summary); } finally { button.disabled = false; }
  });
  return button;
}
