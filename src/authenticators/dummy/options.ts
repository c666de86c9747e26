import { Type, type Static } from '@sinclair/typebox';

export const DummyAuthenticatorOptions = Type.Object(
  {
    password: Type.String({
      default: '',
      description:
        'Shared password every user logs in with. Empty: any password is accepted. For development only; the hub warns loudly at start.',
    }),
  },
  { additionalProperties: false, default: {}, description: 'Development authenticator (authenticator.kind: dummy).' },
);
export type DummyAuthenticatorOptions = Static<typeof DummyAuthenticatorOptions>;
