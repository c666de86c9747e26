/**
 * DummyAuthenticator: any user name, one shared password (or none). For development and demos;
 * it says so loudly at creation so it never goes unnoticed in a real deployment's log.
 */
import { secretChecker } from '../../shared/secret-compare.js';
import type { Authenticator, AuthenticatorKind, AuthRequest, AuthResult } from '../authenticator.js';
import type { DummyAuthenticatorOptions } from './options.js';

export class DummyAuthenticator implements Authenticator {
  readonly mode = 'form' as const;
  readonly anyName = true;
  private readonly passwordMatches: ((candidate: string) => boolean) | null;

  constructor(options: DummyAuthenticatorOptions) {
    this.passwordMatches = options.password === '' ? null : secretChecker(options.password);
  }

  async authenticate(_request: AuthRequest, form: Record<string, string>): Promise<AuthResult | null> {
    // The hub passes strings only; a kind must not trust that (an array here was a TypeError, a 500).
    const raw: unknown = form.username;
    const name = typeof raw === 'string' ? raw.trim() : '';
    if (name === '') return null;
    const password: unknown = form.password;
    if (this.passwordMatches && !this.passwordMatches(typeof password === 'string' ? password : '')) return null;
    return { name };
  }
}

export const dummyAuthenticatorKind: AuthenticatorKind<DummyAuthenticatorOptions> = {
  kind: 'dummy',
  create({ options, log }) {
    log.warn(
      { sharedPassword: options.password !== '' },
      'DummyAuthenticator: anyone can log in; development only',
    );
    return new DummyAuthenticator(options);
  },
};
