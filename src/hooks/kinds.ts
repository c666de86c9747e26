/**
 * The one list of hook kinds. Adding a kind: a folder with a descriptor, one line here; the
 * config schema, docs/config.md, `atrium config check` and the hub's registry follow.
 */
import { ldapAccountHook } from './ldap-account/descriptor.js';

export const hookKinds = {
  kinds: [ldapAccountHook],
} as const;
