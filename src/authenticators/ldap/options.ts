import { Type, type Static } from '@sinclair/typebox';

// Placeholder owned by the LDAP work (issue 4); filled in there.
export const LdapAuthenticatorOptions = Type.Object(
  {},
  { additionalProperties: false, default: {}, description: 'The LDAP authenticator (authenticator.kind: ldap).' },
);
export type LdapAuthenticatorOptions = Static<typeof LdapAuthenticatorOptions>;
