/**
 * Syntax check of admin-written LDAP filter templates (RFC 4515), without ldapts: the check runs
 * in `atrium config check` and at every hub start through the kind's descriptor, and a
 * deployment that does not use LDAP must not load the LDAP client to validate its config.
 */
import { escapeFilterValue, fillTemplate } from '../../shared/ldap/escape.js';
import { hasCode } from '../../shared/errors.js';

/** A value holding every character RFC 4515 requires escaped. */
const PROBE = 'probe*()\\\u0000';

const ATTR = /^(?:[A-Za-z][A-Za-z0-9-]*|\d+(?:\.\d+)*)(?:;[A-Za-z0-9-]+)*$/;
const RULE = /^(?:[A-Za-z][A-Za-z0-9-]*|\d+(?:\.\d+)*)$/;

class FilterSyntaxError extends Error {}

/** Parse one filter starting at `i`; returns the index after it. */
function parseFilter(s: string, i: number): number {
  if (s[i] !== '(') throw new FilterSyntaxError(`expected "(" at position ${i}`);
  i++;
  const op = s[i];
  if (op === '&' || op === '|') {
    i++;
    if (s[i] !== '(') throw new FilterSyntaxError(`"${op}" needs at least one filter (position ${i})`);
    while (s[i] === '(') i = parseFilter(s, i);
  } else if (op === '!') {
    i = parseFilter(s, i + 1);
  } else {
    const end = s.indexOf(')', i);
    if (end === -1) throw new FilterSyntaxError('missing ")"');
    checkItem(s.slice(i, end));
    i = end;
  }
  if (s[i] !== ')') throw new FilterSyntaxError(`expected ")" at position ${i}`);
  return i + 1;
}

function checkItem(item: string): void {
  const m = /^([^=~<>]*?)([~<>]?=)(.*)$/s.exec(item);
  if (!m) throw new FilterSyntaxError(`"${item}" is not attribute=value`);
  const [, lhs, op, value] = m as unknown as [string, string, string, string];
  if (op === '=' && lhs.includes(':')) {
    // Extensible match: attr[:dn][:rule]:= value, or [:dn]:rule:= value.
    if (!lhs.endsWith(':')) throw new FilterSyntaxError(`"${item}": an extensible match ends with ":="`);
    const parts = lhs.slice(0, -1).split(':');
    const [attr, ...rest] = parts as [string, ...string[]];
    if (attr !== '' && !ATTR.test(attr)) throw new FilterSyntaxError(`"${attr}" is not an attribute name`);
    if (rest.length > 2 || rest.some((r, k) => !(RULE.test(r) || (k === 0 && r.toLowerCase() === 'dn'))))
      throw new FilterSyntaxError(`"${item}" is not a valid extensible match`);
    if (attr === '' && !rest.some((r) => r.toLowerCase() !== 'dn')) throw new FilterSyntaxError(`"${item}" needs an attribute or a matching rule`);
  } else if (!ATTR.test(lhs)) {
    throw new FilterSyntaxError(`"${lhs}" is not an attribute name`);
  }
  if (/[()\u0000]/.test(value)) throw new FilterSyntaxError(`unescaped "(", ")" or NUL in the value of "${lhs}"`);
  if (/\\(?![0-9a-fA-F]{2})/.test(value)) throw new FilterSyntaxError(`"\\" in the value of "${lhs}" must start a two-digit hex escape`);
  if (op !== '=' && value.includes('*')) throw new FilterSyntaxError(`"*" is only allowed with "=" (in "${item}")`);
}

/**
 * Why a filter template is unusable, or null: it is filled with the variables a login provides
 * (user-supplied ones replaced by a probe that needs escaping) and the result is parsed.
 */
export function filterTemplateError(template: string, vars: Record<string, string | null>): string | null {
  const filled = Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, v ?? PROBE]));
  try {
    const text = fillTemplate(template, filled, escapeFilterValue);
    const end = parseFilter(text, 0);
    if (end !== text.length) throw new FilterSyntaxError(`unexpected text after the filter: "${text.slice(end)}"`);
    return null;
  } catch (err) {
    if (err instanceof FilterSyntaxError || hasCode(err, 'ATRIUM_ERR_LDAP_TEMPLATE')) return `not a valid LDAP filter template (${err.message})`;
    throw err;
  }
}
