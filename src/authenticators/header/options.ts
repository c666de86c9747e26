import { Type, type Static } from '@sinclair/typebox';

// Owned by the header authenticator work; see docs/authenticators/header.md.
export const HeaderAuthenticatorOptions = Type.Object(
  {
    userHeader: Type.String({ default: 'Remote-User', description: 'Header that carries the user identity.' }),
    trustedProxies: Type.Array(Type.String(), {
      default: [],
      description: 'CIDRs or addresses allowed to send identity headers. Requests from anywhere else are refused (403).',
    }),
  },
  { additionalProperties: false, default: {}, description: 'Front-proxy header authenticator (authenticator.kind: header).' },
);
export type HeaderAuthenticatorOptions = Static<typeof HeaderAuthenticatorOptions>;
