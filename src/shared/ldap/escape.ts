/**
 * Escaping for every value that goes into an LDAP filter or DN, and the `{name}` template filler
 * both the authenticator and the account hook use. User names, passwords and auth-state fields are
 * hostile input: a `)` or `*` in a filter or a `,` in a DN must stay data, never become syntax.
 */
import { AtriumError } from '../errors.js';

/**
 * RFC 4515 §3: in an assertion value, `*`, `(`, `)`, `\` and NUL must be written as `\XX`.
 * Everything else (including UTF-8) may stay literal; we escape only what the RFC requires so
 * that filters stay readable in the directory's logs.
 */
export function escapeFilterValue(value: string): string {
  return value.replace(/[*()\\\u0000]/g, (c) => '\\' + c.charCodeAt(0).toString(16).padStart(2, '0'));
}

/**
 * RFC 4514 §2.4: in an attribute value of a DN, `"`, `+`, `,`, `;`, `<`, `>`, `\` are escaped
 * with a backslash, as are a leading `#` or space and a trailing space; NUL becomes `\00`.
 * `=` is escaped too (allowed by the RFC's `escaped / special` rule) because some servers
 * mis-parse an unescaped `=` inside an RDN value.
 */
export function escapeDnValue(value: string): string {
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c === '\u0000') out += '\\00';
    else if ('"+,;<>\\='.includes(c)) out += '\\' + c;
    else if ((c === ' ' || c === '#') && i === 0) out += '\\' + c;
    else if (c === ' ' && i === value.length - 1) out += '\\ ';
    else out += c;
  }
  return out;
}

export type Escaper = (value: string) => string;

export const noEscape: Escaper = (v) => v;

/** A placeholder names a variable missing from the template's variables (ATRIUM_ERR_LDAP_TEMPLATE). */
export class TemplateError extends AtriumError {
  readonly placeholder: string;
  constructor(placeholder: string, template: string) {
    super('ATRIUM_ERR_LDAP_TEMPLATE', `no value for {${placeholder}} in template "${template}"`);
    this.name = 'TemplateError';
    this.placeholder = placeholder;
  }
}

/**
 * Fill `{name}` / `{authState.x509dn}` / `{entry.uidNumber}` placeholders from `vars` (dotted
 * names look into nested objects), passing every inserted value through `escape`. The template
 * itself is trusted admin configuration and is never escaped. `{{` and `}}` are literal braces,
 * so filters like the AD nested-group OID can be written without ambiguity.
 */
export function fillTemplate(template: string, vars: Record<string, unknown>, escape: Escaper): string {
  return template.replace(/\{\{|\}\}|\{([A-Za-z_][\w.-]*)\}/g, (m, name: string | undefined) => {
    if (m === '{{') return '{';
    if (m === '}}') return '}';
    const value = lookup(vars, name!);
    if (value === undefined || value === null) throw new TemplateError(name!, template);
    return escape(Array.isArray(value) ? String(value[0]) : String(value));
  });
}

/** Placeholder names used by a template (to validate configuration at start-up). */
export function templatePlaceholders(template: string): string[] {
  const names: string[] = [];
  for (const m of template.matchAll(/\{\{|\}\}|\{([A-Za-z_][\w.-]*)\}/g)) if (m[1]) names.push(m[1]);
  return names;
}

function lookup(vars: Record<string, unknown>, dotted: string): unknown {
  let cur: unknown = vars;
  for (const part of dotted.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}
