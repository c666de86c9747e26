import { Type, type Static } from '@sinclair/typebox';

// Owned by the header authenticator work; see docs/authenticators/header.md.

const ReplaceRule = Type.Object(
  {
    pattern: Type.String({ minLength: 1, description: 'Regular expression (JavaScript syntax), applied globally.' }),
    with: Type.String({ default: '', description: 'Replacement; $1 and $<name> refer to groups.' }),
  },
  { additionalProperties: false, description: 'One search-and-replace step.' },
);

const TextRules = {
  pattern: Type.Optional(
    Type.String({
      description:
        'Regular expression the value must match; the group named "value" (or else group 1, or else the whole match) is kept. A value that does not match is refused.',
    }),
  ),
  lowercase: Type.Boolean({ default: false, description: 'Lower-case the kept value before the replace rules.' }),
  replace: Type.Array(ReplaceRule, { default: [], description: 'Search-and-replace steps applied in order to the kept value.' }),
};

export const AuthStateHeader = Type.Object(
  {
    header: Type.String({ minLength: 1, description: 'Request header to read, e.g. X-Auth-State (case-insensitive).' }),
    key: Type.String({ minLength: 1, description: 'auth_state key the parsed value is stored under.' }),
    encoding: Type.Union([Type.Literal('none'), Type.Literal('base64')], {
      default: 'none',
      description: 'base64: the value is base64 (or base64url) encoded and decoded first.',
    }),
    parse: Type.Union([Type.Literal('text'), Type.Literal('json')], {
      default: 'text',
      description: 'json: the value is a JSON object, stored as an object; text: a string, after pattern/lowercase/replace.',
    }),
    fields: Type.Array(Type.String(), {
      default: [],
      description: 'json only: keep just these top-level fields (empty = all).',
    }),
    required: Type.Boolean({
      default: false,
      description: 'Refuse the login (403) when the header is missing; otherwise the key is left out.',
    }),
    ...TextRules,
  },
  { additionalProperties: false, description: 'A further header parsed into auth_state for spawners and hooks.' },
);
export type AuthStateHeader = Static<typeof AuthStateHeader>;

export const HeaderJwtOptions = Type.Object(
  {
    secret: Type.Optional(
      Type.String({ description: 'HS256 shared secret (at least 32 characters); use ${ENV_VAR}. One of secret, jwksFile, jwksUrl.' }),
    ),
    jwksFile: Type.Optional(Type.String({ description: 'Path to a JSON Web Key Set with the front proxy\'s public keys.' })),
    jwksUrl: Type.Optional(
      Type.String({ description: 'URL of a JSON Web Key Set; it must also be listed in allowedJwksUrls.' }),
    ),
    allowedJwksUrls: Type.Array(Type.String(), {
      default: [],
      description: 'The only URLs jwksUrl may name (guards against a config that fetches keys from anywhere).',
    }),
    algorithms: Type.Array(Type.String(), {
      default: [],
      description: 'Accepted "alg" values; empty = HS256 with secret, RS256/PS256/ES256/EdDSA with a key set.',
    }),
    issuer: Type.String({ minLength: 1, description: 'Required "iss" claim.' }),
    audience: Type.String({ minLength: 1, description: 'Required "aud" claim.' }),
    userClaim: Type.String({ default: 'sub', description: 'Claim that holds the user name.' }),
    groupsClaim: Type.Optional(Type.String({ description: 'Claim with a list of group names, passed to the hub.' })),
    clockToleranceSeconds: Type.Integer({ default: 30, minimum: 0, maximum: 600, description: 'Allowed clock skew for exp/nbf/iat.' }),
  },
  {
    additionalProperties: false,
    description: 'The identity header must be a JWT signed by the front proxy ("Bearer " prefix allowed); exp is required.',
  },
);
export type HeaderJwtOptions = Static<typeof HeaderJwtOptions>;

export const HeaderAuthenticatorOptions = Type.Object(
  {
    userHeader: Type.String({ default: 'Remote-User', minLength: 1, description: 'Header that carries the user identity.' }),
    trustedProxies: Type.Array(Type.String(), {
      default: [],
      description:
        'CIDRs or addresses allowed to send identity headers (IPv4-mapped IPv6 peers are matched as IPv4). Requests from anywhere else are refused (403).',
    }),
    ...TextRules,
    jwt: Type.Optional(HeaderJwtOptions),
    authStateHeaders: Type.Array(AuthStateHeader, {
      default: [],
      description: 'Further headers parsed into auth_state (e.g. X-Auth-State with host, user name and key for the spawner).',
    }),
    maxHeaderBytes: Type.Integer({
      default: 16384,
      minimum: 256,
      description: 'Longest identity or auth-state header accepted; longer ones are refused (403).',
    }),
  },
  {
    additionalProperties: false,
    default: {},
    description:
      'Front-proxy header authenticator (authenticator.kind: header). The user name is the identity header (or its JWT claim) after pattern, lowercase and replace.',
  },
);
export type HeaderAuthenticatorOptions = Static<typeof HeaderAuthenticatorOptions>;
