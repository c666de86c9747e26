/**
 * Registration of the LDAP account hook (`hooks[].kind: ldap-account`); listed in ../kinds.ts.
 * ldapts is imported by load() only, when a hook of this kind is configured.
 */
import type { HookDescriptor } from '../hook.js';
import { checkLdapAccountOptions } from './check.js';
import { LdapAccountHookOptions } from './options.js';

export const ldapAccountHook = {
  name: 'ldap-account',
  optionsKey: 'ldapAccount',
  description: "Create or find the user's POSIX account in LDAP before a spawn.",
  optionsSchema: LdapAccountHookOptions,
  validateOptions: (options: unknown) => checkLdapAccountOptions(options),
  load: async () => (await import('./index.js')).ldapAccountHookKind,
} as const satisfies HookDescriptor<LdapAccountHookOptions>;
