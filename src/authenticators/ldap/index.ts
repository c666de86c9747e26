import type { AuthenticatorKind } from '../authenticator.js';
import { LdapAuthenticator } from './ldap-authenticator.js';
import type { LdapAuthenticatorOptions } from './options.js';

export { LdapAuthenticator, MATCHING_RULE_IN_CHAIN } from './ldap-authenticator.js';
export { LdapAuthenticatorOptions } from './options.js';

export const ldapAuthenticatorKind: AuthenticatorKind<LdapAuthenticatorOptions> = {
  kind: 'ldap',
  create: ({ options, log }) => new LdapAuthenticator(options, log.child({ authenticator: 'ldap' })),
};
