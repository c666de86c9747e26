import { Type, type Static } from '@sinclair/typebox';
import { LdapConnectionProps } from '../../shared/ldap/connection-options.js';

// An equivalent of the ldap_hooks library's pre-spawn account step; see docs/ldap.md.
// Templates: {username} (the hub's user name), {authState.FIELD} (auth state from the login),
// and in `attributes` also {uidNumber} (the number allocated for a new entry); env templates see
// {entry.ATTRIBUTE} of the found or created entry.
export const LdapAccountHookOptions = Type.Object(
  {
    urls: Type.Optional(LdapConnectionProps.urls),
    tls: LdapConnectionProps.tls,
    caFile: LdapConnectionProps.caFile,
    connectTimeoutSeconds: LdapConnectionProps.connectTimeoutSeconds,
    operationTimeoutSeconds: LdapConnectionProps.operationTimeoutSeconds,
    bindDn: Type.Optional(Type.String({ description: 'DN the hook binds as; it needs to search, add entries and modify the counter.' })),
    bindPassword: Type.Optional(Type.String({ description: 'Password of bindDn (use ${ENV_VAR}).' })),
    searchBase: Type.Optional(Type.String({ description: 'Subtree where user entries are looked for (and uidNumbers checked for collisions).' })),
    uniqueAttributes: Type.Array(Type.String(), {
      default: ['uid'],
      minItems: 1,
      description:
        'Attributes whose values (from `attributes`) identify the user\'s entry; an entry matching all of them is reused. E.g. ["description"] with description: "{authState.x509dn}".',
    }),
    dnTemplate: Type.Optional(Type.String({ description: 'DN of a new entry: "uid={username},ou=people,dc=example,dc=org". Values are DN-escaped.' })),
    objectClasses: Type.Array(Type.String(), {
      default: ['top', 'account', 'posixAccount'],
      minItems: 1,
      description: 'Object classes of a new entry: a structural class (account, inetOrgPerson) plus posixAccount and any site classes.',
    }),
    attributes: Type.Record(Type.String(), Type.Union([Type.String(), Type.Array(Type.String())]), {
      default: {
        uid: '{username}',
        cn: '{username}',
        gidNumber: '{uidNumber}',
        homeDirectory: '/home/{username}',
        loginShell: '/bin/bash',
      },
      description: 'Attribute templates of a new entry (objectClass and uidNumber are added by the hook). A list gives several values.',
    }),
    createMissing: Type.Boolean({
      default: true,
      description: 'Create the entry when none matches; false: a user without an entry cannot spawn.',
    }),
    counterDn: Type.Optional(Type.String({ description: 'Entry holding the next free uidNumber: "cn=uidNext,dc=example,dc=org" (see config/ldap/).' })),
    counterAttribute: Type.String({ default: 'uidNext', description: 'Attribute of counterDn holding the next free uidNumber.' }),
    maxAllocationAttempts: Type.Integer({
      default: 50,
      minimum: 1,
      description: 'How often a uidNumber allocation that lost a race to a concurrent one is retried (with jittered back-off).',
    }),
    env: Type.Record(Type.String(), Type.String(), {
      default: {
        NB_USER: '{entry.uid}',
        NB_UID: '{entry.uidNumber}',
        NB_GID: '{entry.gidNumber}',
        HOME: '{entry.homeDirectory}',
      },
      description: 'Spawn environment set from the entry; spawners run the session as NB_UID/NB_GID.',
    }),
  },
  { additionalProperties: false, default: {}, description: 'The LDAP account hook (hooks[].kind: ldap-account).' },
);
export type LdapAccountHookOptions = Static<typeof LdapAccountHookOptions>;
