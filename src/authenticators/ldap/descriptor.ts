/**
 * Registration of the LDAP authenticator (`authenticator.kind: ldap`); listed in ../kinds.ts.
 * ldapts is imported by load() only, when this kind is configured.
 */
import type { AuthenticatorDescriptor } from '../authenticator.js';
import { checkLdapOptions } from './check.js';
import { LdapAuthenticatorOptions } from './options.js';

export const ldapAuthenticator = {
  name: 'ldap',
  optionsSchema: LdapAuthenticatorOptions,
  validateOptions: checkLdapOptions,
  load: async () => (await import('./index.js')).ldapAuthenticatorKind,
} as const satisfies AuthenticatorDescriptor<LdapAuthenticatorOptions>;
