import { Type, type Static } from '@sinclair/typebox';
import { LdapConnectionProps } from '../../shared/ldap/connection-options.js';

// Option meanings follow jupyterhub/ldapauthenticator (camelCase); see docs/ldap.md.
export const LdapAuthenticatorOptions = Type.Object(
  {
    urls: Type.Optional(LdapConnectionProps.urls),
    tls: LdapConnectionProps.tls,
    caFile: LdapConnectionProps.caFile,
    connectTimeoutSeconds: LdapConnectionProps.connectTimeoutSeconds,
    operationTimeoutSeconds: LdapConnectionProps.operationTimeoutSeconds,
    bindDnTemplates: Type.Array(Type.String(), {
      default: [],
      description:
        'DNs to bind as, tried in order: "uid={username},ou=people,dc=example,dc=org". {username} is DN-escaped. Ignored when lookupDn is true.',
    }),
    lookupDn: Type.Boolean({
      default: false,
      description: 'Find the user\'s DN with a search (as searchUserDn, or anonymously) instead of bindDnTemplates, then bind as that DN.',
    }),
    searchBase: Type.Optional(Type.String({ description: 'Where lookupDn searches for users: "ou=people,dc=example,dc=org".' })),
    userAttribute: Type.String({ default: 'uid', description: 'Attribute holding the login name (uid; sAMAccountName on Active Directory).' }),
    searchFilter: Type.String({
      default: '({userAttribute}={username})',
      description:
        'Filter lookupDn uses; {username} is filter-escaped, {userAttribute} is the attribute name. Example: "(&(objectClass=person)({userAttribute}={username}))".',
    }),
    searchUserDn: Type.Optional(Type.String({ description: 'DN lookupDn binds as; anonymous when unset.' })),
    searchUserPassword: Type.Optional(Type.String({ description: 'Password of searchUserDn (use ${ENV_VAR}).' })),
    nameFromAttribute: Type.Optional(
      Type.String({ description: 'Return this attribute of the entry as the user name (e.g. uid), instead of what was typed.' }),
    ),
    allowedGroups: Type.Array(Type.String(), {
      default: [],
      description: 'Group DNs; when non-empty, only their members may log in (others get "invalid user name or password").',
    }),
    groupMembership: Type.Union(
      [Type.Literal('search'), Type.Literal('memberOf'), Type.Literal('nested')],
      {
        default: 'search',
        description:
          'How membership is found. search: groups whose member/uniqueMember is the user\'s DN or whose memberUid is the name (groupMembershipFilter). memberOf: the user entry\'s memberOf attribute (memberof overlay, Active Directory). nested: Active Directory transitive membership (LDAP_MATCHING_RULE_IN_CHAIN).',
      },
    ),
    groupMembershipFilter: Type.String({
      default: '(|(member={userDn})(uniqueMember={userDn})(memberUid={username}))',
      description: 'Filter that matches a group the user belongs to (groupMembership: search). {userDn} and {username} are filter-escaped.',
    }),
    groupSearchBase: Type.Optional(
      Type.String({ description: 'When set, the names of all the user\'s groups under this base are returned as the user\'s groups.' }),
    ),
    groupNameAttribute: Type.String({ default: 'cn', description: 'Attribute of a group entry used as the group name.' }),
    authStateAttributes: Type.Array(Type.String(), {
      default: [],
      description: 'Attributes of the user entry copied into auth_state (which always holds the entry\'s dn).',
    }),
    usernamePattern: Type.String({
      default: '^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$',
      description: 'Typed user names that do not match are refused before any request to the directory.',
    }),
  },
  { additionalProperties: false, default: {}, description: 'The LDAP authenticator (authenticator.kind: ldap).' },
);
export type LdapAuthenticatorOptions = Static<typeof LdapAuthenticatorOptions>;
