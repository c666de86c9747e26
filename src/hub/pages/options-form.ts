/** Renders a spawner's options form (admin-defined fields) and turns the posted form back into input. */
import type { HubContext } from '../context.js';
import type { OptionsForm, OptionsFormField } from '../../spawners/spawner.js';
import { esc } from './layout.js';

/**
 * A refused submission shown again: the user's own values, and the refusal's message. Kinds name
 * the bad field at the start of the message ("memory: ..."), so the message is placed beside that
 * field when it is one of the form's; otherwise (e.g. "unknown option") it stays at the top only.
 */
export interface RejectedForm {
  values: Record<string, unknown>;
  message: string;
}

/** The form field a kind's message names ("cpu: ..." → cpu), or null when none of them. */
export function fieldNamedBy(form: OptionsForm, message: string): OptionsFormField | null {
  const m = /^([A-Za-z0-9_-]+):/.exec(message);
  if (!m) return null;
  return form.fields.find((f) => f.name === m[1]) ?? null;
}

export function renderOptionsForm(hub: HubContext, form: OptionsForm, action: string, xsrf: string, rejected?: RejectedForm): string {
  void hub;
  const bad = rejected ? fieldNamedBy(form, rejected.message) : null;
  // What the user sent wins over the kind's default, so nothing they chose is lost on a refusal.
  const value = (f: OptionsFormField): unknown => {
    if (!rejected) return f.default;
    if (f.type === 'checkbox') return rejected.values[f.name] !== undefined;
    return rejected.values[f.name] ?? f.default;
  };
  const fields = form.fields
    .map((f) => {
      const id = `opt-${esc(f.name)}`;
      const help = f.help ? `<small class="muted">${esc(f.help)}</small>` : '';
      const isBad = bad === f;
      const invalid = isBad ? ` aria-invalid="true" aria-describedby="${id}-error"` : '';
      const error = isBad ? `<small class="error field-error" id="${id}-error">${esc(rejected!.message)}</small>` : '';
      const v = value(f);
      if (f.type === 'select') {
        const opts = (f.choices ?? [])
          .map((c) => `<option value="${esc(c.value)}"${c.value === String(v ?? '') ? ' selected' : ''}>${esc(c.label)}${c.description ? ` — ${esc(c.description)}` : ''}</option>`)
          .join('');
        return `<label for="${id}">${esc(f.label)}</label><select id="${id}" name="${esc(f.name)}"${invalid}>${opts}</select>${error}${help}`;
      }
      if (f.type === 'checkbox') {
        return `<label><input type="checkbox" id="${id}" name="${esc(f.name)}" value="1"${v ? ' checked' : ''}${invalid}> ${esc(f.label)}</label>${error}${help}`;
      }
      const range = `${f.min !== undefined ? ` min="${esc(f.min)}"` : ''}${f.max !== undefined ? ` max="${esc(f.max)}"` : ''}`;
      return `<label for="${id}">${esc(f.label)}</label><input id="${id}" name="${esc(f.name)}" type="${f.type === 'number' ? 'number' : 'text'}" value="${esc(String(v ?? ''))}"${range}${invalid}>${error}${help}`;
    })
    .join('\n');
  // The top line names the field by its label, so it is clear even without looking for the mark.
  const top = rejected
    ? `<p class="error" role="alert" id="options-error">Not started: ${bad ? `${esc(bad.label)} — ` : ''}${esc(rejected.message)}</p>`
    : '';
  return `<div class="card"><h1>Server options</h1>${top}<form method="post" action="${esc(action)}">
    <input type="hidden" name="_xsrf" value="${esc(xsrf)}">${fields}
    <p><button class="primary" type="submit">Start</button></p></form></div>`;
}

/** Form fields as strings; the spawner kind's parseOptions validates and converts them. */
export function formToInput(body: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(body)) {
    if (k === '_xsrf') continue;
    out[k] = Array.isArray(v) ? v[0] : v;
  }
  return out;
}
