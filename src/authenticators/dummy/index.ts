/**
 * DummyAuthenticator: any user name, one shared password (or none). For development and demos;
 * it says so loudly at creation so it never goes unnoticed in a real deployment's log.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Authenticator, AuthenticatorKind, AuthRequest, AuthResult } from '../authenticator.js';
import type { DummyAuthenticatorOptions } from './options.js';

// Hashing both sides first gives equal-length buffers, so timingSafeEqual neither throws nor
// leaks the password length through an early length check.
const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

export class DummyAuthenticator implements Authenticator {
  readonly mode = 'form' as const;
  private readonly expected: Buffer | null;

  constructor(options: DummyAuthenticatorOptions) {
    this.expected = options.password === '' ? null : digest(options.password);
  }

  async authenticate(_request: AuthRequest, form: Record<string, string>): Promise<AuthResult | null> {
    const name = (form.username ?? '').trim();
    if (name === '') return null;
    if (this.expected && !timingSafeEqual(digest(form.password ?? ''), this.expected)) return null;
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
