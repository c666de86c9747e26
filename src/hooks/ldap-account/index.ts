import type { HookKind } from '../hook.js';
import { LdapAccountHook } from './ldap-account-hook.js';
import type { LdapAccountHookOptions } from './options.js';

export { LdapAccountHook } from './ldap-account-hook.js';
export { UidCounter, type AllocationStats } from './uid-counter.js';
export { LdapAccountHookOptions } from './options.js';

export const ldapAccountHookKind: HookKind<LdapAccountHookOptions> = {
  kind: 'ldap-account',
  create: ({ options, log }) => new LdapAccountHook(options, log.child({ hook: 'ldap-account' })),
};
