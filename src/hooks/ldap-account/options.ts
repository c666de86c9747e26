import { Type, type Static } from '@sinclair/typebox';

// Placeholder owned by the LDAP work (issue 4); filled in there.
export const LdapAccountHookOptions = Type.Object(
  {},
  { additionalProperties: false, default: {}, description: 'The LDAP account hook (hooks[].kind: ldap-account).' },
);
export type LdapAccountHookOptions = Static<typeof LdapAccountHookOptions>;
