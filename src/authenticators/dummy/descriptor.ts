/** Registration of the development authenticator (`authenticator.kind: dummy`); listed in ../kinds.ts. */
import type { AuthenticatorDescriptor } from '../authenticator.js';
import { DummyAuthenticatorOptions } from './options.js';

export const dummyAuthenticator = {
  name: 'dummy',
  optionsSchema: DummyAuthenticatorOptions,
  load: async () => (await import('./index.js')).dummyAuthenticatorKind,
} as const satisfies AuthenticatorDescriptor<DummyAuthenticatorOptions>;
