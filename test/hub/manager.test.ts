/**
 * The real SpawnManager driven through its failure modes with the named fake spawners
 * (test/spawners/fakes.ts), registered as the test-only kind `fake` in the kinds list: the start
 * timeout, a server dying after start, a stop that cancels a pending spawn, a slow stop, a
 * spawner failure reaching the progress stream, the 429 limits, failing hooks and what post-stop
 * hooks receive. Built in-process on an in-memory SQLite, with a real RouteKeeper over a proxy API
 * that records calls (the proxy is not what these tests are about); no build, no child process.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';

vi.mock('../../src/spawners/kinds.js', async (orig) => {
  const real = (await orig()) as typeof import('../../src/spawners/kinds.js');
  const { fakeSpawners } = await import('../spawners/fakes.js');
  return { spawnerKinds: { ...real.spawnerKinds, kinds: [...real.spawnerKinds.kinds, fakeSpawners.descriptor()] } };
});

const { parseConfig } = await import('../../src/hub/config/loader.js');
const { loadSpawnerKind } = await import('../../src/hub/registry.js');
const { openStores } = await import('../../src/hub/db/index.js');
const { AuthStateCipher } = await import('../../src/hub/auth/crypto.js');
const { Metrics } = await import('../../src/hub/metrics.js');
const { SpawnManager } = await import('../../src/hub/spawn/manager.js');
const { RouteKeeper } = await import('../../src/hub/spawn/routes.js');
const { HookError } = await import('../../src/hooks/hook.js');
const { fakeSpawners, neverStarts, diesAfterStart, slowStop, failsWith, startsFine, ignoresAbort } = await import('../spawners/fakes.js');
type HubContext = import('../../src/hub/context.js').HubContext;
type Stores = import('../../src/hub/db/index.js').Stores;
type Hook = import('../../src/hooks/hook.js').Hook;
type HookContext = import('../../src/hooks/hook.js').HookContext;
type HubProgressEvent = import('../../src/hub/spawn/active.js').HubProgressEvent;

const log = pino({ level: process.env.ATRIUM_TEST_LOG ?? 'silent' });
const stateDir = mkdtempSync(join(tmpdir(), 'atrium-manager-'));
afterAll(async () => {
  await fakeSpawners.stopAll();
  rmSync(stateDir, { recursive: true, force: true });
});

/** The proxy's REST API as a map, recording every change the hub asks for. */
class RecordingProxy {
  readonly routes = new Map<string, Record<string, unknown>>();
  readonly calls: string[] = [];
  async getRoutes() {
    return Object.fromEntries(this.routes);
  }
  async addRoute(spec: string, target: string, data: Record<string, unknown>) {
    this.calls.push(`add ${spec} ${target}`);
    this.routes.set(spec, { ...data, target });
  }
  async deleteRoute(spec: string) {
    this.calls.push(`delete ${spec}`);
    this.routes.delete(spec);
  }
}

interface Built {
  hub: HubContext;
  spawns: InstanceType<typeof SpawnManager>;
  proxy: RecordingProxy;
  stores: Stores;
}

const built: Built[] = [];
afterEach(async () => {
  // Let every spawn or stop in flight finish, then stop what still runs (no timers left behind).
  for (const b of built.splice(0)) {
    for (const a of b.spawns.active.values()) await a.done;
    for (const a of [...b.spawns.active.values()]) {
      const u = b.stores.users.getById(a.userId)!;
      if (a.phase === 'running') await b.spawns.stop(u, a.serverName).catch(() => undefined);
      await b.spawns.get(a.userName, a.serverName)?.done;
    }
    b.spawns.detach();
  }
});

/** The hub objects SpawnManager uses, as start.ts assembles them, minus HTTP and the proxy process. */
async function build(spawner: Record<string, unknown> = {}, hooks: { hook: Hook; timeoutSeconds: number }[] = [], stores = openStores(':memory:')): Promise<Built> {
  const doc = {
    hub: { ip: '127.0.0.1', port: 1, stateDir },
    spawner: { kind: 'fake', startTimeoutSeconds: 1, httpTimeoutSeconds: 5, pollIntervalSeconds: 1, slowSpawnTimeoutSeconds: 10, ...spawner },
  };
  const config = parseConfig(JSON.stringify(doc), 'manager-test.yaml', {});
  const { kind, options } = await loadSpawnerKind(config);
  const metrics = new Metrics();
  const proxy = new RecordingProxy();
  const urls = { base: '/', hub: '/hub/', api: '/hub/api', apiForServers: 'http://127.0.0.1:1/hub/api', hubTarget: 'http://127.0.0.1:1', secure: false };
  const hub = {
    config, log, stores, metrics, urls, hooks,
    cipher: new AuthStateCipher(randomBytes(32).toString('hex')),
    authenticator: { mode: 'form' as const, authenticate: async () => null },
    spawnerKind: kind,
    spawnerOptions: options,
    proxyProof: randomBytes(16).toString('hex'),
    version: 'test',
  } as unknown as HubContext;
  hub.spawns = new SpawnManager(hub);
  hub.routes = new RouteKeeper({
    proxy, log, metrics,
    hubRoute: { spec: '/', target: urls.hubTarget },
    wanted: () => hub.spawns.wantedRoutes(),
    pendingSpecs: () => hub.spawns.pendingSpecs(),
  });
  await hub.spawns.restore();
  const b = { hub, spawns: hub.spawns, proxy, stores };
  built.push(b);
  return b;
}

const uname = (tag: string) => `${tag}${randomBytes(3).toString('hex')}`;

/** The catalogue code, or the class name where an error carries none yet (see contract.ts). */
const codeOf = (err: unknown) => (err as { code?: unknown }).code ?? (err as Error).name;

async function rejection(p: Promise<unknown>): Promise<Error & { code?: string; statusCode?: number; headers?: Record<string, string> }> {
  return p.then(
    () => expect.fail('expected a rejection'),
    (e: unknown) => e as Error,
  );
}

async function until(what: string, cond: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await sleep(25);
  }
}

function user(b: Built, name: string) {
  return b.stores.users.ensure(name).user;
}

describe('SpawnManager with named fake spawners', () => {
  it('start timeout (neverStarts): fails with the timeout message, cleans up, and the user can start again', async () => {
    const b = await build();
    const name = uname('tim');
    const u = user(b, name);
    fakeSpawners.assign(name, neverStarts());
    const err = await rejection(b.spawns.spawn(u, '', null));
    // Today's catalogue has one spawn-failure code; the shared error model may name the timeout.
    expect(['ATRIUM_ERR_SPAWN_FAILED', 'ATRIUM_ERR_SPAWN_TIMEOUT']).toContain(codeOf(err));
    expect(err.message).toBe('Server did not start within 1 seconds');
    expect(b.spawns.failures.get(`${name}/`)?.message).toBe('Server did not start within 1 seconds');
    expect(b.spawns.failures.get(`${name}/`)?.code).toBe('ATRIUM_ERR_SPAWN_TIMEOUT');
    // Cleanup: the spawner was told to stop, the row and the server's token are gone, no route.
    const [first] = fakeSpawners.of(name);
    expect(first!.calls).toEqual(['start', 'stop']);
    expect(first!.ctx!.signal.aborted).toBe(true);
    const row = b.stores.servers.get(u.id, '')!;
    expect(row.status).toBe('stopped');
    expect(b.stores.db.prepare('SELECT COUNT(*) AS n FROM api_tokens WHERE server_id = ?').get(row.id)).toEqual({ n: 0 });
    expect(b.spawns.get(name, '')).toBeUndefined();
    expect(b.proxy.calls).toEqual([]);

    fakeSpawners.assign(name, startsFine());
    expect(await b.spawns.spawn(u, '', null)).toBe('started');
    expect(b.stores.servers.get(u.id, '')!.status).toBe('running');
    expect(b.spawns.failures.has(`${name}/`)).toBe(false);
  });

  it('a server dying after start (diesAfterStart): the poll notices, the row is stopped, the route removed', async () => {
    const b = await build();
    const name = uname('die');
    const u = user(b, name);
    fakeSpawners.assign(name, diesAfterStart(200));
    expect(await b.spawns.spawn(u, '', null)).toBe('started');
    const target = b.spawns.get(name, '')!.url!;
    expect(b.proxy.calls).toEqual([`add /user/${name}/ ${target}`]);
    await until('the poll loop to notice the exit', () => b.spawns.get(name, '') === undefined);
    expect(b.stores.servers.get(u.id, '')!.status).toBe('stopped');
    expect(b.proxy.calls).toEqual([`add /user/${name}/ ${target}`, `delete /user/${name}/`]);
    expect(b.proxy.routes.size).toBe(0);
    expect(fakeSpawners.of(name)[0]!.calls.filter((c) => c !== 'poll')).toEqual(['start', 'stop']);
  });

  it('stopping a pending spawn cancels it (JupyterHub 5.1+): the backend is stopped, the row and token cleaned, the failure says cancelled', async () => {
    const b = await build({ slowSpawnTimeoutSeconds: 0, startTimeoutSeconds: 30 });
    const name = uname('can');
    const u = user(b, name);
    fakeSpawners.assign(name, neverStarts());
    expect(await b.spawns.spawn(u, '', null)).toBe('pending');
    // A second request joins the pending spawn instead of starting another backend object.
    expect(await b.spawns.spawn(u, '', null)).toBe('pending');
    expect(fakeSpawners.of(name)).toHaveLength(1);
    const t0 = performance.now();
    expect(await b.spawns.stop(u, '')).toBe('stopped');
    expect(performance.now() - t0).toBeLessThan(2000); // not the 30 s start timeout
    expect(b.spawns.get(name, '')).toBeUndefined();
    expect(b.spawns.failures.get(`${name}/`)?.code).toBe('ATRIUM_ERR_SPAWN_CANCELLED');
    expect(fakeSpawners.of(name)[0]!.calls).toEqual(['start', 'stop']);
    expect(b.stores.servers.get(u.id, '')!.status).toBe('stopped');
    expect(b.stores.tokens.ofUser(u.id).filter((t) => t.server_id !== null)).toEqual([]);
    // The next start is a fresh attempt.
    fakeSpawners.assign(name, startsFine());
    await b.spawns.spawn(u, '', null);
    await b.spawns.get(name, '')!.done;
    expect(b.spawns.get(name, '')!.phase).toBe('running');
    await b.spawns.stop(u, '');
  });

  it('a cancel that catches start() between two awaits waits for it, then stops what it created', async () => {
    const b = await build({ slowSpawnTimeoutSeconds: 0, startTimeoutSeconds: 30 });
    const name = uname('race');
    const u = user(b, name);
    fakeSpawners.assign(name, ignoresAbort(600));
    expect(await b.spawns.spawn(u, '', null)).toBe('pending');
    await sleep(100);
    const a = b.spawns.get(name, '')!;
    expect(await b.spawns.stop(u, '')).toBe('pending'); // slowSpawnTimeoutSeconds 0: the API would answer 202
    await a.done;
    const rec = fakeSpawners.of(name)[0]!;
    // Stopped before it listened, running would be true now: the stop came after start() settled.
    expect(rec.calls).toEqual(['start', 'stop']);
    expect(rec.running).toBe(false);
    expect(b.spawns.failures.get(`${name}/`)?.code).toBe('ATRIUM_ERR_SPAWN_CANCELLED');
  });

  it('a POST still waiting for a start that gets cancelled is answered 409 ATRIUM_ERR_SPAWN_CANCELLED', async () => {
    const b = await build({ slowSpawnTimeoutSeconds: 10, startTimeoutSeconds: 30 });
    const name = uname('post');
    const u = user(b, name);
    fakeSpawners.assign(name, neverStarts());
    const waiting = rejection(b.spawns.spawn(u, '', null));
    await sleep(100);
    await b.spawns.stop(u, '');
    const err = await waiting;
    expect(codeOf(err)).toBe('ATRIUM_ERR_SPAWN_CANCELLED');
    expect(err.statusCode).toBe(409);
  });

  it('stop of a slowStop server: pending while it shuts down, then stopped with the route gone', async () => {
    const b = await build({ slowSpawnTimeoutSeconds: 0.2 });
    const name = uname('slo');
    const u = user(b, name);
    fakeSpawners.assign(name, slowStop(1500));
    await b.spawns.spawn(u, '', null);
    await b.spawns.get(name, '')!.done;
    expect(b.spawns.get(name, '')!.phase).toBe('running');
    expect(await b.spawns.stop(u, '')).toBe('pending');
    const a = b.spawns.get(name, '')!;
    expect(a.phase).toBe('stop');
    expect(b.stores.servers.get(u.id, '')!.status).toBe('stopping');
    // Route first, so nothing reaches a server that is going away.
    expect(b.proxy.calls.at(-1)).toBe(`delete /user/${name}/`);
    expect(await b.spawns.stop(u, '')).toBe('pending');
    expect(codeOf(await rejection(b.spawns.spawn(u, '', null)))).toBe('ATRIUM_ERR_SERVER_PENDING');
    await a.done;
    expect(b.spawns.get(name, '')).toBeUndefined();
    expect(b.stores.servers.get(u.id, '')!.status).toBe('stopped');
    expect(fakeSpawners.of(name)[0]!.running).toBe(false);
    expect(await b.spawns.stop(u, '')).toBe('stopped');
  });

  it('failsWith(message): the message reaches the progress stream and the failure map, the spawner progress too', async () => {
    const b = await build({ slowSpawnTimeoutSeconds: 0 });
    const name = uname('fai');
    const u = user(b, name);
    fakeSpawners.assign(name, failsWith('No such image: example/missing', 'docker said 404'));
    expect(await b.spawns.spawn(u, '', null)).toBe('pending');
    const a = b.spawns.get(name, '')!;
    const streamed: (HubProgressEvent | null)[] = [];
    a.subscribe((e) => streamed.push(e));
    await a.done;
    const all = a.events.map((e) => e.message);
    expect(all[0]).toBe('Server requested');
    expect(all).toContain('fake: pulling the image');
    expect(a.events.at(-1)).toMatchObject({ progress: 100, failed: true, message: 'Spawn failed: No such image: example/missing', time: expect.any(String) });
    expect(streamed.at(-2)).toEqual(a.events.at(-1));
    expect(streamed.at(-1)).toBeNull(); // the stream ends
    expect(b.spawns.failures.get(`${name}/`)?.message).toBe('No such image: example/missing');
    expect(JSON.stringify(a.events)).not.toContain('docker said 404'); // detail is for the log only
  });

  it('concurrent-spawn limit: the next spawn gets 429 ATRIUM_ERR_SPAWN_THROTTLED with Retry-After', async () => {
    const b = await build({ slowSpawnTimeoutSeconds: 0, concurrentSpawnLimit: 1 });
    const [n1, n2] = [uname('cc'), uname('cc')];
    fakeSpawners.assign(n1, neverStarts());
    expect(await b.spawns.spawn(user(b, n1), '', null)).toBe('pending');
    const err = await rejection(b.spawns.spawn(user(b, n2), '', null));
    expect(codeOf(err)).toBe('ATRIUM_ERR_SPAWN_THROTTLED');
    expect(err.statusCode).toBe(429);
    expect(Number(err.headers!['Retry-After'])).toBeGreaterThan(0);
    expect(fakeSpawners.of(n2)).toEqual([]);
    await b.spawns.get(n1, '')!.done; // the pending one times out
    await b.spawns.spawn(user(b, n2), '', null);
    await b.spawns.get(n2, '')!.done;
    expect(b.spawns.get(n2, '')!.phase).toBe('running');
  });

  it('active-server limit: the next spawn gets 429 ATRIUM_ERR_SPAWN_ACTIVE_LIMIT until one stops', async () => {
    const b = await build({ activeServerLimit: 1 });
    const [n1, n2] = [uname('ac'), uname('ac')];
    expect(await b.spawns.spawn(user(b, n1), '', null)).toBe('started');
    const err = await rejection(b.spawns.spawn(user(b, n2), '', null));
    expect(codeOf(err)).toBe('ATRIUM_ERR_SPAWN_ACTIVE_LIMIT');
    expect(err.statusCode).toBe(429);
    expect(err.headers!['Retry-After']).toBe('60');
    expect(await b.spawns.stop(user(b, n1), '')).toBe('stopped');
    expect(await b.spawns.spawn(user(b, n2), '', null)).toBe('started');
  });

  it('a failing pre-spawn hook aborts the spawn with its message; no spawner is created', async () => {
    const refusing: Hook = {
      name: 'quota',
      preSpawn: async () => {
        throw new HookError('Your disk quota is exhausted', 'quota 100%');
      },
    };
    const b = await build({}, [{ hook: refusing, timeoutSeconds: 5 }]);
    const name = uname('hk');
    const err = await rejection(b.spawns.spawn(user(b, name), '', null));
    expect(['ATRIUM_ERR_SPAWN_FAILED', 'ATRIUM_ERR_HOOK_REFUSED']).toContain(codeOf(err));
    expect(err.message).toBe('Your disk quota is exhausted');
    expect(b.spawns.failures.get(`${name}/`)?.message).toBe('Your disk quota is exhausted');
    expect(b.spawns.failures.get(`${name}/`)?.code).toBe('ATRIUM_ERR_HOOK_REFUSED');
    expect(fakeSpawners.of(name)).toEqual([]);
    expect(b.stores.servers.get(user(b, name).id, '')!.status).toBe('stopped');
  });

  it('a pre-spawn hook that hangs is cut off at its timeout and the spawn fails with that message', async () => {
    let sawAbort = false;
    const hanging: Hook = {
      name: 'slow directory',
      preSpawn: (ctx) =>
        new Promise((_, reject) => ctx.signal.addEventListener('abort', () => ((sawAbort = true), reject(new Error('aborted'))), { once: true })),
    };
    const b = await build({}, [{ hook: hanging, timeoutSeconds: 0.3 }]);
    const name = uname('hh');
    const err = await rejection(b.spawns.spawn(user(b, name), '', null));
    expect(err.message).toBe('slow directory timed out after 0.3 s');
    expect(sawAbort).toBe(true);
    expect(fakeSpawners.of(name)).toEqual([]);
  });

  describe('post-stop hooks get the spawn env and options (hook.ts)', () => {
    function recordingHook() {
      const seen: HookContext[] = [];
      const hook: Hook = {
        name: 'account',
        preSpawn: async () => ({ env: { NB_UID: '4242' }, userOptions: { partition: 'gpu' } }),
        postStop: async (ctx) => void seen.push(ctx),
      };
      return { hook, seen };
    }

    it('a server this hub started: its env (with hook additions, without the API token) and options', async () => {
      const { hook, seen } = recordingHook();
      const b = await build({}, [{ hook, timeoutSeconds: 5 }]);
      const name = uname('ps');
      const u = user(b, name);
      expect(await b.spawns.spawn(u, '', { image: 'python' })).toBe('started');
      const spawnEnv = fakeSpawners.of(name)[0]!.ctx!.env;
      expect(spawnEnv.JUPYTERHUB_API_TOKEN).toMatch(/^[0-9a-f]{64}$/);
      await b.spawns.stop(u, '');
      expect(seen).toHaveLength(1);
      const { JUPYTERHUB_API_TOKEN: _t, JPY_API_TOKEN: _j, ...withoutToken } = spawnEnv;
      expect(seen[0]!.env).toEqual(withoutToken);
      expect(seen[0]!.env.NB_UID).toBe('4242');
      expect(seen[0]!.userOptions).toEqual({ image: 'python', partition: 'gpu' });
    });

    it('a server restored after a hub restart: the stored options and the env rebuilt without secrets', async () => {
      const { hook, seen } = recordingHook();
      const stores = openStores(':memory:');
      const first = await build({}, [{ hook, timeoutSeconds: 5 }], stores);
      const name = uname('rs');
      expect(await first.spawns.spawn(user(first, name), '', { image: 'r' })).toBe('started');
      const spawnEnv = fakeSpawners.of(name)[0]!.ctx!.env;
      first.spawns.detach(); // hub shutdown: the server keeps running
      first.spawns.active.clear();

      const second = await build({}, [{ hook, timeoutSeconds: 5 }], stores);
      expect(second.spawns.get(name, '')?.phase).toBe('running');
      await second.spawns.stop(user(second, name), '');
      expect(seen).toHaveLength(1);
      expect(seen[0]!.userOptions).toEqual({ image: 'r' }); // as stored: what the user asked for
      const env = seen[0]!.env;
      expect(env.JUPYTERHUB_API_TOKEN).toBeUndefined();
      expect(env.JPY_API_TOKEN).toBeUndefined();
      expect(env.NB_UID).toBeUndefined(); // hook additions are not persisted
      for (const k of ['JUPYTERHUB_USER', 'JUPYTERHUB_SERVICE_PREFIX', 'JUPYTERHUB_CLIENT_ID', 'JUPYTERHUB_API_URL']) expect(env[k], k).toBe(spawnEnv[k]);
    });
  });
});
