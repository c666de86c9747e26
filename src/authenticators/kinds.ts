/**
 * The one list of authenticator kinds. Adding a kind: a folder with a descriptor, one line here;
 * the config schema, docs/config.md, `atrium config check` and the hub's registry follow.
 */
import { dummyAuthenticator } from './dummy/descriptor.js';
import { headerAuthenticator } from './header/descriptor.js';
import { ldapAuthenticator } from './ldap/descriptor.js';

export const authenticatorKinds = {
  /** The kind of an empty config. */
  default: 'dummy',
  kinds: [dummyAuthenticator, headerAuthenticator, ldapAuthenticator],
} as const;
