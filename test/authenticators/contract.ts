/**
 * The shared Authenticator contract suite (authenticator.ts): every authenticator kind runs it
 * from its own test file with a fixture that says how credentials reach it (form fields or
 * headers) and how its backend can be made unavailable.
 *
 *   runAuthenticatorContract('ldap', async () => ({ create, attempt, good, ... }));
 *
 * What every kind promises the hub: hostile input (11 hostile names × 7 passwords: NUL bytes,
 * 100 kB strings, unicode, lone surrogates, LDAP filter and DN metacharacters, CRLF) resolves with
 * null or a well-formed identity, or is refused with the refused code, and never crashes; a kind
 * that checks a secret never lets any of it in; an unreachable backend is the unavailable code,
 * not a crash and not a failed login; close() may be called twice.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuthRequest, AuthResult, Authenticator } from '../../src/authenticators/authenticator.js';

export interface AuthAttempt {
  request: AuthRequest;
  form: Record<string, string>;
}

export interface AuthenticatorFixture {
  /** This kind configured against a backend that is up. */
  create(): Authenticator;
  /** How a login as `name` with `password` reaches this kind (form fields or headers). */
  attempt(name: string, password: string): AuthAttempt;
  /** Credentials that log in, and the raw name the kind answers with. */
  good: { name: string; password: string; expectName: string };
  /** Credentials that must not log in; a string says why the kind has none (it checks no secret). */
  wrong: { name: string; password: string } | string;
  /** An authenticator whose backend cannot be asked and an attempt that makes it ask; a string says why the kind has no backend. */
  unavailable: { create(): Authenticator; attempt: AuthAttempt } | string;
  cleanup?(): Promise<void>;
}

/** The catalogue code, or the class name where an error carries none yet (before the shared error model). */
export const codeOf = (err: unknown): unknown => (err as { code?: unknown } | null)?.code ?? (err as Error | null)?.name;

const REFUSED = ['ATRIUM_ERR_AUTH_REFUSED', 'ATRIUM_ERR_AUTH_UNTRUSTED_PROXY', 'AuthRefusedError'];
const UNAVAILABLE = ['ATRIUM_ERR_AUTH_UNAVAILABLE', 'ATRIUM_ERR_LDAP_UNAVAILABLE', 'AuthUnavailableError'];

const HUGE = 'x'.repeat(100_000);
export const HOSTILE_NAMES = [
  '',
  ' ',
  'alice\u0000admin',
  HUGE,
  '*',
  '*)(uid=*))(|(uid=*',
  'cn=admin,dc=example,dc=org',
  '../../etc/passwd',
  'ünïcødé-名前-🙂',
  'lone\ud800surrogate',
  'alice\r\nX-Injected: 1',
];
export const HOSTILE_PASSWORDS = ['', '*', '\u0000', `pw\u0000${HUGE}`, HUGE, 'pässwörd-密码-🙂', '\udfff'];

/** A result the hub's pipeline can take: a name string, optional plain-object auth state, typed flags. */
export function expectWellFormed(r: AuthResult): void {
  expect(typeof r.name).toBe('string');
  if (r.authState !== undefined) {
    expect(r.authState).not.toBeNull();
    expect(typeof r.authState).toBe('object');
    expect(Array.isArray(r.authState)).toBe(false);
    // Stored encrypted as JSON: it must survive the round trip.
    expect(JSON.parse(JSON.stringify(r.authState))).toEqual(r.authState);
  }
  if (r.admin !== undefined) expect(typeof r.admin).toBe('boolean');
  if (r.groups !== undefined) {
    expect(Array.isArray(r.groups)).toBe(true);
    for (const g of r.groups) expect(typeof g).toBe('string');
  }
  expect(Object.keys(r).filter((k) => !['name', 'authState', 'admin', 'groups'].includes(k))).toEqual([]);
}

type Outcome = { kind: 'result'; value: AuthResult | null } | { kind: 'error'; err: unknown };

async function outcome(p: Promise<AuthResult | null>): Promise<Outcome> {
  return p.then(
    (value) => ({ kind: 'result', value }),
    (err: unknown) => ({ kind: 'error', err }),
  );
}

export function runAuthenticatorContract(name: string, setup: () => Promise<AuthenticatorFixture>): void {
  describe(`Authenticator contract: ${name}`, () => {
    let fx: AuthenticatorFixture;
    const made: Authenticator[] = [];
    const make = (create: () => Authenticator = fx.create) => {
      const a = create();
      made.push(a);
      return a;
    };
    beforeAll(async () => {
      fx = await setup();
    });
    afterAll(async () => {
      for (const a of made) await a.close?.().catch(() => undefined);
      await fx?.cleanup?.();
    });

    it('mode is form or request', () => {
      expect(['form', 'request']).toContain(make().mode);
    });

    it('good credentials resolve with a well-formed identity', async () => {
      const { request, form } = fx.attempt(fx.good.name, fx.good.password);
      const r = await make().authenticate(request, form);
      expect(r).not.toBeNull();
      expectWellFormed(r!);
      expect(r!.name).toBe(fx.good.expectName);
    });

    it('wrong credentials resolve with null (or are refused, for a forged identity); never a name, never a crash', async (t) => {
      if (typeof fx.wrong === 'string') return t.skip(fx.wrong);
      const { request, form } = fx.attempt(fx.wrong.name, fx.wrong.password);
      const o = await outcome(make().authenticate(request, form));
      if (o.kind === 'error') expect(REFUSED).toContain(codeOf(o.err));
      else expect(o.value).toBeNull();
    });

    it(`hostile input (${HOSTILE_NAMES.length} names × ${HOSTILE_PASSWORDS.length} passwords): null, a well-formed identity or refused; never a crash`, async () => {
      const a = make();
      const bad: string[] = [];
      for (const n of HOSTILE_NAMES) {
        for (const pw of HOSTILE_PASSWORDS) {
          const { request, form } = fx.attempt(n, pw);
          const o = await outcome(a.authenticate(request, form));
          const label = `${JSON.stringify(n.slice(0, 30))} / ${JSON.stringify(pw.slice(0, 12))}`;
          if (o.kind === 'error') {
            if (!REFUSED.includes(codeOf(o.err) as string)) bad.push(`${label}: threw ${codeOf(o.err)}: ${String((o.err as Error)?.message).slice(0, 120)}`);
          } else if (o.value !== null) {
            expectWellFormed(o.value);
            // None of these passwords is anyone's: a kind that checks a secret must refuse them all.
            if (typeof fx.wrong !== 'string') bad.push(`${label}: logged in as ${JSON.stringify(o.value.name.slice(0, 30))}`);
          }
        }
      }
      expect(bad).toEqual([]);
      // The backend is still fine afterwards.
      const { request, form } = fx.attempt(fx.good.name, fx.good.password);
      expect((await a.authenticate(request, form))?.name).toBe(fx.good.expectName);
    }, 120_000);

    // The hub passes string fields only (login.ts drops anything else), but any may be missing.
    it('missing or unexpected form fields resolve or refuse, never crash', async () => {
      const a = make();
      const { request } = fx.attempt(fx.good.name, fx.good.password);
      const forms: Record<string, string>[] = [{}, { username: fx.good.name }, { password: fx.good.password }, { user: 'alice', pass: 'x', __proto__x: '1', constructor: 'x' }];
      for (const form of forms) {
        const o = await outcome(a.authenticate(request, form));
        if (o.kind === 'error') expect(REFUSED).toContain(codeOf(o.err));
        else if (o.value) expectWellFormed(o.value);
      }
    });

    it('an unreachable backend rejects with the unavailable code, not a crash or a failed login', async (t) => {
      if (typeof fx.unavailable === 'string') return t.skip(fx.unavailable);
      const a = make(fx.unavailable.create);
      const o = await outcome(a.authenticate(fx.unavailable.attempt.request, fx.unavailable.attempt.form));
      expect(o.kind).toBe('error');
      expect(UNAVAILABLE).toContain(codeOf((o as { err: unknown }).err));
    }, 60_000);

    it('close() is idempotent, and may be called on an authenticator that was never used', async () => {
      const used = make();
      const { request, form } = fx.attempt(fx.good.name, fx.good.password);
      await used.authenticate(request, form);
      await used.close?.();
      await used.close?.();
      const unused = make();
      await unused.close?.();
      await unused.close?.();
    });
  });
}
