/**
 * Checks of the LDAP connection options shared by the LDAP authenticator and the LDAP account
 * hook, run by `atrium config check` (through each kind's descriptor) and again by LdapConnector.
 * They tolerate values of the wrong type: the schema reports those.
 */
import { readFileSync } from 'node:fs';
import type { OptionProblem } from '../kind.js';

type Obj = Record<string, unknown>;

/** `requireUrls`: the kind is configured, so an empty server list is an error. */
export function ldapConnectionProblems(o: Obj, requireUrls: boolean): OptionProblem[] {
  const out: OptionProblem[] = [];
  const urls = Array.isArray(o.urls) ? o.urls : [];
  if (requireUrls && o.urls === undefined) out.push({ segments: ['urls'], message: 'at least one server URL is required' });
  const tls = typeof o.tls === 'string' ? o.tls : 'starttls';
  urls.forEach((url: unknown, i) => {
    if (typeof url !== 'string') return;
    const scheme = URL.canParse(url) ? new URL(url).protocol : null;
    if (scheme === null) out.push({ segments: ['urls', i], message: `"${url}" is not a URL (ldap://host:389 or ldaps://host:636)` });
    else if (tls === 'ldaps' && scheme !== 'ldaps:') out.push({ segments: ['urls', i], message: `tls: ldaps needs ldaps:// URLs, got ${url}` });
    else if (tls !== 'ldaps' && scheme !== 'ldap:') out.push({ segments: ['urls', i], message: `tls: ${tls} needs ldap:// URLs, got ${url}` });
  });
  if (typeof o.caFile === 'string') {
    try {
      readFileSync(o.caFile);
    } catch (e) {
      out.push({ segments: ['caFile'], message: `cannot read the file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})` });
    }
  }
  return out;
}
