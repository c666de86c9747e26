/** Renders a spawner's options form (admin-defined fields) and turns the posted form back into input. */
import type { HubContext } from '../context.js';
import type { OptionsForm } from '../../spawners/spawner.js';
import { esc } from './layout.js';

export function renderOptionsForm(hub: HubContext, form: OptionsForm, action: string, xsrf: string): string {
  void hub;
  const fields = form.fields
    .map((f) => {
      const id = `opt-${esc(f.name)}`;
      const help = f.help ? `<small class="muted">${esc(f.help)}</small>` : '';
      if (f.type === 'select') {
        const opts = (f.choices ?? [])
          .map((c) => `<option value="${esc(c.value)}"${c.value === f.default ? ' selected' : ''}>${esc(c.label)}${c.description ? ` — ${esc(c.description)}` : ''}</option>`)
          .join('');
        return `<label for="${id}">${esc(f.label)}</label><select id="${id}" name="${esc(f.name)}">${opts}</select>${help}`;
      }
      if (f.type === 'checkbox') {
        return `<label><input type="checkbox" name="${esc(f.name)}" value="1"${f.default ? ' checked' : ''}> ${esc(f.label)}</label>${help}`;
      }
      const range = `${f.min !== undefined ? ` min="${esc(f.min)}"` : ''}${f.max !== undefined ? ` max="${esc(f.max)}"` : ''}`;
      return `<label for="${id}">${esc(f.label)}</label><input id="${id}" name="${esc(f.name)}" type="${f.type === 'number' ? 'number' : 'text'}" value="${esc(f.default ?? '')}"${range}>${help}`;
    })
    .join('\n');
  return `<div class="card"><h1>Server options</h1><form method="post" action="${esc(action)}">
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
