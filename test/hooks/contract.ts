/**
 * The shared Hook contract suite (hook.ts): every hook kind runs it from its own test file with a
 * fixture that builds the hook against a real backend, and one against a backend that accepts
 * connections but never answers (so only the AbortSignal can end a call).
 *
 *   runHookContract('ldap-account', async () => ({ create, hanging, ... }));
 *
 * What the hub relies on: preSpawn resolves with nothing or `{ env?: strings, userOptions?: object }`;
 * a second preSpawn for the same user gives the same answer (a retried spawn must not allocate a
 * second account); preSpawn settles once its signal aborts, with a HookError, even when the
 * backend never answers; postStop never throws, even for a user it never saw; close() twice.
 */
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hook, HookContext, PreSpawnResult } from '../../src/hooks/hook.js';

export interface HookFixture {
  /** This kind configured against a backend that is up. */
  create(): Hook;
  /** This kind configured against a backend that accepts connections and never answers. */
  hanging(): Hook;
  /** Auth state for a user (e.g. the X.509 DN a portal forwarded), or null. */
  authState?(user: string): Record<string, unknown> | null;
  cleanup?(): Promise<void>;
}

const silent = pino({ level: 'silent' });

/** The catalogue code, or the class name where an error carries none yet (before the shared error model). */
const codeOf = (err: unknown): unknown => (err as { code?: unknown } | null)?.code ?? (err as Error | null)?.name;
const HOOK_CODES = ['ATRIUM_ERR_HOOK_REFUSED', 'ATRIUM_ERR_HOOK_CANCELLED', 'ATRIUM_ERR_HOOK_FAILED', 'HookError'];

export function hookContext(fx: HookFixture, user: string, signal = new AbortController().signal): HookContext {
  return {
    user: { name: user, admin: false, groups: [] },
    serverName: '',
    authState: fx.authState?.(user) ?? null,
    env: Object.freeze({ JUPYTERHUB_USER: user }),
    userOptions: Object.freeze({}),
    log: silent,
    signal,
  };
}

function expectWellFormed(r: PreSpawnResult | void): void {
  if (r === undefined) return;
  expect(typeof r).toBe('object');
  expect(Object.keys(r).filter((k) => k !== 'env' && k !== 'userOptions')).toEqual([]);
  if (r.env !== undefined) for (const [k, v] of Object.entries(r.env)) expect(typeof v, k).toBe('string');
  if (r.userOptions !== undefined) {
    expect(typeof r.userOptions).toBe('object');
    expect(JSON.parse(JSON.stringify(r.userOptions))).toEqual(r.userOptions); // stored as JSON
  }
}

export function runHookContract(name: string, setup: () => Promise<HookFixture>): void {
  describe(`Hook contract: ${name}`, () => {
    let fx: HookFixture;
    const made: Hook[] = [];
    const make = (how: 'create' | 'hanging' = 'create') => {
      const h = fx[how]();
      made.push(h);
      return h;
    };
    const uname = () => `hk${randomBytes(3).toString('hex')}`;
    beforeAll(async () => {
      fx = await setup();
    });
    afterAll(async () => {
      for (const h of made) await h.close?.().catch(() => undefined);
      await fx?.cleanup?.();
    });

    it('has a name for the log and the user-facing messages', () => {
      const h = make();
      expect(typeof h.name).toBe('string');
      expect(h.name.length).toBeGreaterThan(0);
    });

    it('preSpawn resolves with nothing or { env: strings, userOptions: JSON }', async (t) => {
      const h = make();
      if (!h.preSpawn) return t.skip(`${name} has no preSpawn step`);
      expectWellFormed(await h.preSpawn(hookContext(fx, uname())));
    });

    it('preSpawn is idempotent: a second call for the same user gives the same answer', async (t) => {
      const h = make();
      if (!h.preSpawn) return t.skip(`${name} has no preSpawn step`);
      const user = uname();
      const first = await h.preSpawn(hookContext(fx, user));
      const second = await h.preSpawn(hookContext(fx, user));
      expect(second).toEqual(first);
      // A fresh instance (a restarted hub) sees the same account too.
      expect(await make().preSpawn!(hookContext(fx, user))).toEqual(first);
    });

    it('preSpawn honours its AbortSignal: with a backend that never answers it settles with a hook error once aborted', async (t) => {
      const h = make('hanging');
      if (!h.preSpawn) return t.skip(`${name} has no preSpawn step`);
      const ac = new AbortController();
      const pending = h.preSpawn(hookContext(fx, uname(), ac.signal)).then(
        () => null,
        (e: unknown) => e,
      );
      setTimeout(() => ac.abort(new Error('contract: spawn cancelled')), 300);
      // Bounded by the test timeout only: the fixture's backend timeouts are far longer, so
      // settling at all is the proof that the signal was honoured.
      const err = await pending;
      expect(err).toBeInstanceOf(Error);
      expect(HOOK_CODES).toContain(codeOf(err));
    }, 20_000);

    it('preSpawn with an already aborted signal does not reach the backend and rejects', async (t) => {
      const h = make('hanging');
      if (!h.preSpawn) return t.skip(`${name} has no preSpawn step`);
      const ac = new AbortController();
      ac.abort(new Error('contract: cancelled before the hook ran'));
      const err = await h.preSpawn(hookContext(fx, uname(), ac.signal)).then(() => null, (e: unknown) => e);
      expect(HOOK_CODES).toContain(codeOf(err));
    }, 20_000);

    it('postStop never throws, for a user it never saw and for one it prepared', async (t) => {
      const h = make();
      if (!h.postStop) return t.skip(`${name} has no postStop step`);
      await h.postStop(hookContext(fx, uname()));
      const user = uname();
      await h.preSpawn?.(hookContext(fx, user));
      await h.postStop(hookContext(fx, user));
      await h.postStop(hookContext(fx, user));
    });

    it('close() is idempotent, used or not', async () => {
      const used = make();
      await used.preSpawn?.(hookContext(fx, uname()));
      await used.close?.();
      await used.close?.();
      const unused = make();
      await unused.close?.();
      await unused.close?.();
    });
  });
}
