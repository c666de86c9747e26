import { FilterParser } from 'ldapts';
import { escapeFilterValue, fillTemplate } from '../../shared/ldap/escape.js';

/** A value holding every character RFC 4515 requires escaped. */
const PROBE = 'probe*()\\\u0000';

/**
 * Check an admin-written filter template at start-up: fill it with the variables a login will
 * provide (user-supplied ones replaced by a probe that needs escaping) and parse the result, so
 * a typo or an unknown {placeholder} fails the config check, not a user's login.
 */
export function validateFilterTemplate(key: string, template: string, vars: Record<string, string | null>): void {
  const filled = Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, v ?? PROBE]));
  try {
    FilterParser.parseString(fillTemplate(template, filled, escapeFilterValue));
  } catch (err) {
    throw new Error(`${key}: not a valid LDAP filter template (${err instanceof Error ? err.message : String(err)})`);
  }
}
