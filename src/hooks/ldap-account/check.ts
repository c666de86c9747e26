/**
 * Checks on the LDAP account hook's options that JSON Schema cannot express. The descriptor hands
 * them to `atrium config check` (key path and line); the constructor runs them again.
 * Tolerates values of the wrong type (the schema reports those).
 */
import type { OptionProblem } from '../../shared/kind.js';
import { ldapConnectionProblems } from '../../shared/ldap/check.js';
import { templatePlaceholders } from '../../shared/ldap/escape.js';

export const REQUIRED_KEYS = ['urls', 'bindDn', 'bindPassword', 'searchBase', 'dnTemplate', 'counterDn'] as const;

export function checkLdapAccountOptions(options: unknown): OptionProblem[] {
  if (!options || typeof options !== 'object') return [];
  const o = options as Record<string, unknown>;
  const out: OptionProblem[] = [];
  for (const key of REQUIRED_KEYS) if (o[key] === undefined) out.push({ segments: [key], message: 'required key is missing' });
  out.push(...ldapConnectionProblems(o, false));
  const attributes = o.attributes && typeof o.attributes === 'object' ? (o.attributes as Record<string, unknown>) : {};
  if (Array.isArray(o.uniqueAttributes)) {
    o.uniqueAttributes.forEach((attr: unknown, i) => {
      if (typeof attr !== 'string') return;
      const template = attributes[attr];
      if (template === undefined) {
        out.push({ segments: ['uniqueAttributes', i], message: `"${attr}" has no template in attributes` });
      } else if ([template].flat().some((t) => typeof t === 'string' && templatePlaceholders(t).includes('uidNumber'))) {
        // The lookup happens before a number is allocated, so it cannot depend on one.
        out.push({ segments: ['uniqueAttributes', i], message: `"${attr}" must not use {uidNumber}` });
      }
    });
  }
  return out;
}
