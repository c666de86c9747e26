import { FilterParser } from 'ldapts';
import { escapeFilterValue, fillTemplate } from '../../shared/ldap/escape.js';

/**
 * Check an admin-written filter template at start-up: fill every placeholder with a value that
 * needs escaping and parse the result, so a typo fails the config check, not a user's login.
 */
export function validateFilterTemplate(key: string, template: string): void {
  const probe = new Proxy({}, { get: () => 'probe*()\\' });
  let filled: string;
  try {
    filled = fillTemplate(template, probe as Record<string, unknown>, escapeFilterValue);
    FilterParser.parseString(filled);
  } catch (err) {
    throw new Error(`${key}: not a valid LDAP filter template (${err instanceof Error ? err.message : String(err)})`);
  }
}
