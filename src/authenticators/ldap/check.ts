/**
 * Checks on the LDAP authenticator's options that JSON Schema cannot express. The descriptor
 * hands them to `atrium config check` (reported with key path and line); the constructor runs
 * them again. Tolerates values of the wrong type (the schema reports those).
 */
import type { OptionProblem } from '../../shared/kind.js';
import { ldapConnectionProblems } from '../../shared/ldap/check.js';
import { regexError } from '../../shared/regex.js';
import { filterTemplateError } from './filters.js';

/** Active Directory's transitive membership rule (LDAP_MATCHING_RULE_IN_CHAIN). */
export const MATCHING_RULE_IN_CHAIN = '1.2.840.113556.1.4.1941';

/** The membership filter a login uses: nested membership has a fixed one. */
export function membershipFilter(o: { groupMembership?: unknown; groupMembershipFilter?: unknown }): string {
  return o.groupMembership === 'nested' ? `(member:${MATCHING_RULE_IN_CHAIN}:={userDn})` : String(o.groupMembershipFilter ?? '');
}

export function checkLdapOptions(options: unknown, active: boolean): OptionProblem[] {
  if (!options || typeof options !== 'object') return [];
  const o = options as Record<string, unknown>;
  const out = ldapConnectionProblems(o, active);
  if (active) {
    const templates = Array.isArray(o.bindDnTemplates) ? o.bindDnTemplates : [];
    if (o.lookupDn !== true && templates.length === 0) {
      out.push({ segments: ['bindDnTemplates'], message: 'set bindDnTemplates, or lookupDn with searchBase' });
    }
    if (o.lookupDn === true && (o.searchBase === undefined || o.searchBase === '')) {
      out.push({ segments: ['searchBase'], message: 'is required with lookupDn' });
    }
    if ((o.searchUserDn === undefined) !== (o.searchUserPassword === undefined)) {
      const missing = o.searchUserDn === undefined ? 'searchUserDn' : 'searchUserPassword';
      out.push({ segments: [missing], message: 'searchUserDn and searchUserPassword go together' });
    }
  }
  const pattern = typeof o.usernamePattern === 'string' ? regexError(o.usernamePattern) : null;
  if (pattern) out.push({ segments: ['usernamePattern'], message: pattern });
  // Filters are checked here so a typo or an unknown {placeholder} fails the config check,
  // not a user's login.
  if (typeof o.searchFilter === 'string') {
    const attr = typeof o.userAttribute === 'string' ? o.userAttribute : 'uid';
    const e = filterTemplateError(o.searchFilter, { username: null, userAttribute: attr });
    if (e) out.push({ segments: ['searchFilter'], message: e });
  }
  if (typeof o.groupMembershipFilter === 'string') {
    const e = filterTemplateError(membershipFilter(o), { username: null, userDn: null });
    if (e) out.push({ segments: ['groupMembershipFilter'], message: e });
  }
  return out;
}
