/**
 * The shared Spawner contract suite (hono's common.case.test.ts pattern): every spawner kind
 * runs it from its own test file with a fixture that configures the kind to run a stub server.
 *
 *   runSpawnerContract('local', async () => ({ kind: localSpawnerKind, options, stub: true }));
 *
 * It builds a realistic JupyterHub environment itself (contracts §1.2) whose API URL points at
 * an unused loopback port, so a stub's activity report fails harmlessly.
 */
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SpawnContext, Spawner, SpawnerKind, SpawnerState, SpawnUser } from '../../src/spawners/spawner.js';
import { freePort, waitForHttp } from '../services/util.js';
import { buildEnv } from '../../src/hub/spawn/env.js';

export interface ContractFixture {
  kind: SpawnerKind<any>;
  /** This kind's validated option block, configured to run a stub server. */
  options: unknown;
  /** true if the configured command is one of the stub servers (serves {baseUrl}env). */
  stub: boolean;
  /** ms to allow for start()+HTTP readiness (default 30000) */
  startTimeoutMs?: number;
  /** Options whose command fails at once (exits non-zero); enables the failing-start check. */
  failingOptions?: unknown;
  /** Options whose command runs but never listens; makes the abort check hit the wait phase. */
  neverReadyOptions?: unknown;
  /** Added to every start's env; the contract's own keys win. */
  extraEnv?: Record<string, string>;
  /** The log directory the hub would pass to create() (its stateDir/logs). */
  logDir?: string;
  cleanup?(): Promise<void>;
}

export const silentLog = pino({ level: 'silent' });

/**
 * The JupyterHub env contract for one server, computed by the hub's own buildEnv (no
 * SERVICE_URL), so the suite tests spawners against exactly what the hub hands them.
 */
export function contractEnv(userName: string, serverName: string, apiPort: number): Record<string, string> {
  const api = `http://127.0.0.1:${apiPort}/hub/api`;
  const urls = { base: '/', hub: '/hub/', api: '/hub/api', apiForServers: api, hubTarget: `http://127.0.0.1:${apiPort}`, secure: false };
  return buildEnv({ urls, config: { spawner: { environment: {} } } }, { user: userName, server: serverName, apiToken: randomBytes(16).toString('hex') });
}

/** What a start reported through ctx.recordHandle, as the hub's database would hold it. */
export interface HandleRecorder {
  ownerTag: string;
  handles: SpawnerState[];
}

export function handleRecorder(ownerPrefix = `ct${randomBytes(4).toString('hex')}:`): HandleRecorder {
  return { ownerTag: `${ownerPrefix}1:${randomBytes(4).toString('hex')}`, handles: [] };
}

export function contractContext(
  userName: string,
  serverName: string,
  env: Record<string, string>,
  signal: AbortSignal,
  rec: HandleRecorder = handleRecorder(),
): SpawnContext {
  const user: SpawnUser = { name: userName, admin: false, groups: [] };
  return {
    ownerTag: rec.ownerTag,
    // Through JSON, as the hub stores it.
    recordHandle: (state) => void rec.handles.push(JSON.parse(JSON.stringify(state)) as SpawnerState),
    user,
    serverName,
    env,
    userOptions: {},
    authState: null,
    baseUrl: env.JUPYTERHUB_SERVICE_PREFIX!,
    log: silentLog,
    signal,
  };
}

/** A unique test user name, so parallel suites and leftovers never collide. */
function uniqueUser(tag: string): string {
  return `ct${tag}${randomBytes(3).toString('hex')}`;
}

async function answers(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer().catch(() => undefined);
    return res.status < 500;
  } catch {
    return false;
  }
}

const TEST_TIMEOUT_MS = 300_000;

/**
 * Errors are matched by their catalogue code (DESIGN "Errors"); an error that carries none yet is
 * matched by its class name, so the suite holds before and after every kind throws coded errors.
 */
export const codeOf = (err: unknown): unknown => (err as { code?: unknown } | null)?.code ?? (err as Error | null)?.name;
const SPAWN_FAILED = ['ATRIUM_ERR_SPAWN_FAILED', 'SpawnError'];

export function runSpawnerContract(name: string, setup: () => Promise<ContractFixture>): void {
  describe(`Spawner contract: ${name}`, () => {
    let fx: ContractFixture;
    let apiPort = 0;
    const created: Spawner[] = [];
    const timeoutMs = () => fx.startTimeoutMs ?? 30_000;

    beforeAll(async () => {
      fx = await setup();
      apiPort = await freePort(); // never listened on: the "hub" is unreachable on purpose
    });
    afterAll(async () => {
      for (const s of created) await s.stop().catch(() => undefined);
      await fx?.cleanup?.();
    });

    function make(userName: string, serverName = '', options: unknown = fx.options): Spawner {
      const s = fx.kind.create({ options, user: { name: userName, admin: false, groups: [] }, serverName, log: silentLog, logDir: fx.logDir });
      created.push(s);
      return s;
    }

    /** start() under a deadline like the hub's; the signal is never aborted after success. */
    async function start(s: Spawner, userName: string, serverName = '', rec?: HandleRecorder) {
      const env = { ...fx.extraEnv, ...contractEnv(userName, serverName, apiPort) };
      const ac = new AbortController();
      const timer = setTimeout(() => ac.abort(new Error('contract start timeout')), timeoutMs());
      try {
        const { url } = await s.start(contractContext(userName, serverName, env, ac.signal, rec));
        return { url, env, baseUrl: env.JUPYTERHUB_SERVICE_PREFIX! };
      } finally {
        clearTimeout(timer);
      }
    }

    it('poll() before start() reports not running', async () => {
      expect(await make(uniqueUser('p')).poll()).not.toBeNull();
    });

    describe('one server through its life cycle', () => {
      const user = uniqueUser('l');
      let first: Spawner;
      let url = '';
      let baseUrl = '';
      let env: Record<string, string> = {};
      let reattached: Spawner;

      it('start() resolves with a URL whose base URL answers below 500', async () => {
        first = make(user, 'nb1');
        ({ url, env, baseUrl } = await start(first, user, 'nb1'));
        expect(url).toMatch(/^https?:\/\/[^/]+:\d+$/);
        expect(await waitForHttp(`${url}${baseUrl}`, timeoutMs())).toBeLessThan(500);
      }, TEST_TIMEOUT_MS);

      it('the server got the hub environment and its own JUPYTERHUB_SERVICE_URL', async (t) => {
        if (!fx.stub) return t.skip('the fixture runs a real server, which has no /env page to read its environment back');
        const res = await fetch(`${url}${baseUrl}env`);
        expect(res.status).toBe(200);
        const got = (await res.json()) as Record<string, string>;
        for (const [k, v] of Object.entries(env)) if (k.startsWith('JUPYTERHUB_')) expect(got[k], k).toBe(v);
        const svc = new URL(got.JUPYTERHUB_SERVICE_URL!);
        expect(svc.port).toBe(new URL(url).port);
        expect(svc.pathname).toBe(baseUrl);
      });

      it('poll() is null while it runs', async () => {
        expect(await first.poll()).toBeNull();
      });

      it('state() survives JSON and a new instance re-attaches with restore()', async () => {
        const saved = JSON.parse(JSON.stringify(first.state())) as Record<string, unknown>;
        expect(Object.keys(saved).length).toBeGreaterThan(0);
        reattached = make(user, 'nb1');
        reattached.restore(saved);
        expect(await reattached.poll()).toBeNull();
      });

      it('the re-attached instance stops it; afterwards poll() is non-null and the URL is dead', async () => {
        await reattached.stop();
        expect(await reattached.poll()).not.toBeNull();
        expect(await first.poll()).not.toBeNull();
        expect(await answers(`${url}${baseUrl}`)).toBe(false);
      }, TEST_TIMEOUT_MS);

      it('stop() again (on either instance) resolves', async () => {
        await reattached.stop();
        await first.stop();
        expect(await first.poll()).not.toBeNull();
      }, TEST_TIMEOUT_MS);
    });

    it('a command that fails at once rejects start() with the spawn-failure code', async (t) => {
      if (fx.failingOptions === undefined) return t.skip('the fixture gives no failingOptions (no way to make this kind fail at once)');
      const user = uniqueUser('f');
      const s = make(user, '', fx.failingOptions);
      const err = await start(s, user).then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(Error);
      expect(SPAWN_FAILED).toContain(codeOf(err));
      expect(await s.poll()).not.toBeNull();
    }, TEST_TIMEOUT_MS);

    it('aborting ctx.signal during start() rejects and leaves nothing running', async () => {
      const user = uniqueUser('a');
      const s = make(user, '', fx.neverReadyOptions ?? fx.options);
      const env = { ...fx.extraEnv, ...contractEnv(user, '', apiPort) };
      const ac = new AbortController();
      const pending = s.start(contractContext(user, '', env, ac.signal));
      // With a never-ready command, abort while the spawner waits for it; otherwise right away.
      if (fx.neverReadyOptions !== undefined) await new Promise((r) => setTimeout(r, 1000));
      else await new Promise((r) => setImmediate(r));
      ac.abort(new Error('contract abort'));
      await expect(pending).rejects.toBeInstanceOf(Error);
      expect(await s.poll()).not.toBeNull();
      await s.stop(); // what the hub does after a failed start; must be harmless
      expect(await s.poll()).not.toBeNull();
    }, TEST_TIMEOUT_MS);

    describe('crash safety (spawner.ts "Crash safety")', () => {
      it('a handle recorded while start() is still waiting lets a fresh instance stop the server at once', async () => {
        // The hub is "killed" after the handle was recorded but before start() resolved.
        const user = uniqueUser('h');
        const s = make(user, '', fx.neverReadyOptions ?? fx.options);
        const rec = handleRecorder();
        const ac = new AbortController();
        const env = { ...fx.extraEnv, ...contractEnv(user, '', apiPort) };
        const pending = s.start(contractContext(user, '', env, ac.signal, rec)).catch((e: unknown) => e);
        const deadline = Date.now() + timeoutMs();
        while (rec.handles.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        expect(rec.handles.length).toBeGreaterThan(0);
        const fresh = make(user);
        fresh.restore(rec.handles.at(-1)!);
        let status = await fresh.poll();
        // A handle recorded before the create call may name an object that appears a moment later.
        while (status !== null && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 100));
          status = await fresh.poll();
        }
        expect(status).toBeNull();
        await fresh.stop({ immediate: true });
        expect(await fresh.poll()).not.toBeNull();
        ac.abort(new Error('contract: hub gone'));
        await pending;
        expect(await s.poll()).not.toBeNull();
      }, TEST_TIMEOUT_MS);

      it('the last recorded handle equals state() once start() resolved', async () => {
        const user = uniqueUser('r');
        const s = make(user);
        const rec = handleRecorder();
        await start(s, user, '', rec);
        expect(rec.handles.length).toBeGreaterThan(0);
        const fresh = make(user);
        fresh.restore(rec.handles.at(-1)!);
        expect(await fresh.poll()).toBeNull();
        await fresh.stop({ immediate: true });
        expect(await s.poll()).not.toBeNull();
      }, TEST_TIMEOUT_MS);

      it('sweep() finds exactly the servers carrying its owner prefix, and its state stops them', async (t) => {
        if (!fx.kind.sweep) return t.skip(`${name} has no sweep(): its backend cannot be searched, recorded handles cover it`);
        const prefix = `ct${randomBytes(4).toString('hex')}:`;
        const users = [uniqueUser('w'), uniqueUser('w')];
        const recs = users.map(() => handleRecorder(prefix));
        const other = handleRecorder(); // another hub's prefix: must not be listed
        const otherUser = uniqueUser('o');
        const spawners = users.map((u) => make(u));
        const otherSpawner = make(otherUser);
        await Promise.all([...spawners.map((s, i) => start(s, users[i]!, '', recs[i])), start(otherSpawner, otherUser, '', other)]);
        const found = await fx.kind.sweep({ options: fx.options, ownerPrefix: prefix, log: silentLog });
        expect(found.map((f) => f.tag).sort()).toEqual(recs.map((r) => r.ownerTag).sort());
        for (const f of found) {
          const fresh = make('');
          fresh.restore(JSON.parse(JSON.stringify(f.state)) as SpawnerState);
          expect(await fresh.poll()).toBeNull();
          await fresh.stop({ immediate: true });
        }
        for (const s of spawners) expect(await s.poll()).not.toBeNull();
        expect(await otherSpawner.poll()).toBeNull();
        expect(await fx.kind.sweep({ options: fx.options, ownerPrefix: prefix, log: silentLog })).toEqual([]);
        await otherSpawner.stop();
      }, TEST_TIMEOUT_MS);
    });

    it('progress() yields well-formed events and ends with the spawn', async (t) => {
      const user = uniqueUser('g');
      const s = make(user);
      if (!s.progress) return t.skip(`${name} has no progress(): the hub shows its own generic events`);
      const started = start(s, user);
      const events: { progress: number; message: string }[] = [];
      const collected = (async () => {
        for await (const e of s.progress!()) events.push(e);
      })();
      const { url, baseUrl } = await started;
      await collected; // must end once start() settled
      for (const e of events) {
        expect(e.progress).toBeGreaterThanOrEqual(0);
        expect(e.progress).toBeLessThanOrEqual(100);
        expect(typeof e.message).toBe('string');
        expect(e.message.length).toBeGreaterThan(0);
      }
      await waitForHttp(`${url}${baseUrl}`, timeoutMs());
      await s.stop();
    }, TEST_TIMEOUT_MS);

    it('two concurrent starts for different users both work, on different URLs', async () => {
      const users = [uniqueUser('c'), uniqueUser('c')];
      const spawners = users.map((u) => make(u));
      const results = await Promise.all(spawners.map((s, i) => start(s, users[i]!)));
      expect(results[0]!.url).not.toBe(results[1]!.url);
      for (const [i, r] of results.entries()) {
        await waitForHttp(`${r.url}${r.baseUrl}`, timeoutMs());
        if (fx.stub) {
          const got = (await (await fetch(`${r.url}${r.baseUrl}env`)).json()) as Record<string, string>;
          expect(got.JUPYTERHUB_USER).toBe(users[i]);
        }
      }
      await Promise.all(spawners.map((s) => s.stop()));
      for (const s of spawners) expect(await s.poll()).not.toBeNull();
    }, TEST_TIMEOUT_MS);
  });
}
