/** Registration of the front-proxy header authenticator (`authenticator.kind: header`); listed in ../kinds.ts. */
import type { AuthenticatorDescriptor } from '../authenticator.js';
import { checkHeaderOptions } from './check.js';
import { identityHopProblems } from './identity-hop.js';
import { HeaderAuthenticatorOptions } from './options.js';

export const headerAuthenticator = {
  name: 'header',
  optionsSchema: HeaderAuthenticatorOptions,
  validateOptions: checkHeaderOptions,
  crossChecks: (options: unknown, ctx) => identityHopProblems(options, ctx),
  renamedKeys: [
    { from: 'header.trustedIps', to: 'header.trustedProxies' },
    { from: 'header.headerName', to: 'header.userHeader' },
  ],
  load: async () => (await import('./index.js')).headerAuthenticatorKind,
} as const satisfies AuthenticatorDescriptor<HeaderAuthenticatorOptions>;
