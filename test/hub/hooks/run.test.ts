import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { HookError, type Hook, type HookContext } from '../../../src/hooks/hook.js';
import { runPostStop, runPreSpawn, type HookBase } from '../../../src/hub/hooks/run.js';

const log = pino({ level: 'silent' });
const base = (extra: Partial<HookBase> = {}): HookBase => ({
  user: { name: 'alice', admin: false, groups: [] },
  serverName: '',
  authState: null,
  env: { JUPYTERHUB_USER: 'alice' },
  userOptions: { image: 'base' },
  log,
  ...extra,
});

// Named fakes for each failure mode.
const addsEnv = (name: string, env: Record<string, string>, seen?: (ctx: HookContext) => void): Hook => ({
  name,
  async preSpawn(ctx) {
    seen?.(ctx);
    return { env, userOptions: { [`${name}Ran`]: true } };
  },
});
const neverFinishes = (onAbort?: () => void): Hook => ({
  name: 'LDAP account hook',
  preSpawn: (ctx) =>
    new Promise(() => {
      ctx.signal.addEventListener('abort', () => onAbort?.());
    }),
  postStop: () => new Promise(() => undefined),
});
const throwsHookError: Hook = {
  name: 'quota hook',
  async preSpawn() {
    throw new HookError('Your quota is exhausted', 'used 11G of 10G');
  },
};
const throwsBug: Hook = {
  name: 'buggy hook',
  async preSpawn() {
    throw new TypeError("Cannot read properties of undefined (reading 'x')");
  },
  async postStop() {
    throw new TypeError('boom');
  },
};

describe('runPreSpawn', () => {
  it('merges additions in order; later hooks see earlier ones', async () => {
    let secondSaw: Readonly<Record<string, string>> = {};
    const out = await runPreSpawn(
      [
        { hook: addsEnv('first', { NB_UID: '10000', A: '1' }), timeoutSeconds: 5 },
        { hook: addsEnv('second', { A: '2' }, (ctx) => (secondSaw = ctx.env)), timeoutSeconds: 5 },
      ],
      base(),
    );
    expect(secondSaw).toMatchObject({ NB_UID: '10000', A: '1', JUPYTERHUB_USER: 'alice' });
    expect(out.env).toEqual({ JUPYTERHUB_USER: 'alice', NB_UID: '10000', A: '2' });
    expect(out.userOptions).toEqual({ image: 'base', firstRan: true, secondRan: true });
  });

  it('does not mutate the base env', async () => {
    const b = base();
    await runPreSpawn([{ hook: addsEnv('x', { X: '1' }), timeoutSeconds: 5 }], b);
    expect(b.env).toEqual({ JUPYTERHUB_USER: 'alice' });
  });

  it('times out a hook that never finishes, aborting its signal', async () => {
    let aborted = false;
    const err = await runPreSpawn([{ hook: neverFinishes(() => (aborted = true)), timeoutSeconds: 0.2 }], base()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HookError);
    expect((err as HookError).message).toBe('LDAP account hook timed out after 0.2 s');
    expect(aborted).toBe(true);
  });

  it('formats whole seconds like "30 s"', async () => {
    const hook: Hook = { name: 'LDAP account hook', preSpawn: () => new Promise(() => undefined) };
    await expect(runPreSpawn([{ hook, timeoutSeconds: 1 }], base())).rejects.toThrow('LDAP account hook timed out after 1 s');
  });

  it('passes a HookError through and stops later hooks', async () => {
    let laterRan = false;
    const err = await runPreSpawn(
      [
        { hook: throwsHookError, timeoutSeconds: 5 },
        { hook: addsEnv('later', {}, () => (laterRan = true)), timeoutSeconds: 5 },
      ],
      base(),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HookError);
    expect((err as HookError).message).toBe('Your quota is exhausted');
    expect((err as HookError).detail).toBe('used 11G of 10G');
    expect(laterRan).toBe(false);
  });

  it('wraps an unexpected error with a generic message naming the hook', async () => {
    const err = (await runPreSpawn([{ hook: throwsBug, timeoutSeconds: 5 }], base()).catch((e: unknown) => e)) as HookError;
    expect(err).toBeInstanceOf(HookError);
    expect(err.message).toMatch(/^buggy hook failed/);
    expect(err.message).not.toMatch(/undefined/);
    expect(err.detail).toMatch(/TypeError: Cannot read properties/);
  });

  it('a cancelled spawn aborts the running hook', async () => {
    const spawn = new AbortController();
    let aborted = false;
    const p = runPreSpawn([{ hook: neverFinishes(() => (aborted = true)), timeoutSeconds: 30 }], base({ signal: spawn.signal }));
    spawn.abort(new Error('user cancelled'));
    await expect(p).rejects.toThrow('The spawn was cancelled');
    expect(aborted).toBe(true);
  });

  it('skips hooks without preSpawn', async () => {
    const out = await runPreSpawn([{ hook: { name: 'none' }, timeoutSeconds: 1 }], base());
    expect(out.env).toEqual({ JUPYTERHUB_USER: 'alice' });
  });
});

describe('runPostStop', () => {
  it('logs and swallows errors and timeouts, running every hook', async () => {
    let ran = false;
    const last: Hook = { name: 'last', async postStop() { ran = true; } };
    await expect(
      runPostStop(
        [
          { hook: throwsBug, timeoutSeconds: 1 },
          { hook: neverFinishes(), timeoutSeconds: 0.1 },
          { hook: last, timeoutSeconds: 1 },
        ],
        base(),
      ),
    ).resolves.toBeUndefined();
    expect(ran).toBe(true);
  });
});
