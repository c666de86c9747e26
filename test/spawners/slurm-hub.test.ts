/**
 * The Slurm spawner inside the real hub with its atrium-proxy: the job's wrapper reports its port
 * to the real POST /hub/api/batchspawner, the real jupyterhub-singleuser runs in the job (through
 * srun) and is reached through the proxy; forged reports against the real endpoint are refused.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeSlurmPollers, pollerFor, type SlurmSpawnerOptions } from '../../src/spawners/slurm/index.js';
import { startSlurm, type Slurm } from '../services/slurm.js';
import { freePort } from '../services/util.js';
import { Browser, startTestHub, type TestHub } from '../hub/harness.js';
import { tempHome } from './slurm-fixture.js';

let slurm: Slurm;
let th: TestHub;
const cleanups: (() => Promise<void>)[] = [];

async function until<T>(check: () => Promise<T | null | undefined | false>, ms: number, what: string): Promise<T> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = await check();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`timed out: ${what}`);
}

/** The server token, read the way only root on the node could: from the job's process environment. */
async function jobToken(jobId: string): Promise<string> {
  return until(async () => {
    const out = await slurm.client('scontrol', ['listpids', jobId]).catch(() => '');
    for (const line of out.split('\n').slice(1)) {
      const pid = line.trim().split(/\s+/)[0];
      if (!pid || !/^\d+$/.test(pid)) continue;
      try {
        const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
        const t = env.find((e) => e.startsWith('JUPYTERHUB_API_TOKEN='));
        if (t) return t.slice('JUPYTERHUB_API_TOKEN='.length);
      } catch {
        // the process ended between listing and reading
      }
    }
    return null;
  }, 30_000, 'job process with a token');
}

describe('Slurm spawner in the hub', () => {
  beforeAll(async () => {
    slurm = await startSlurm();
    const home = tempHome();
    th = await startTestHub({
      spawner: {
        kind: 'slurm',
        startTimeoutSeconds: 90,
        httpTimeoutSeconds: 60,
        namedServers: { enabled: true },
        slurm: {
          runAs: 'hub',
          clientEnvironment: slurm.env,
          homeDir: home,
          python: '/usr/bin/python3',
          // A server named "wait" never listens, so its spawn waits for a (forged) report.
          cmd: ['/bin/sh', '-c', 'if [ "$JUPYTERHUB_SERVER_NAME" = wait ]; then exec sleep 600; fi; exec jupyterhub-singleuser --allow-root'],
          bindAddress: '127.0.0.1',
          partitions: [{ name: 'debug', defaultMemory: '1G', defaultWalltime: '30', maxCores: 2 }],
          poll: { intervalSeconds: 2, startIntervalSeconds: 0.5 },
          stopTimeoutSeconds: 5,
        },
      },
    });
  }, 180_000);
  afterAll(async () => {
    await th?.teardown();
    closeSlurmPollers();
    await slurm?.stop();
  }, 120_000);

  it('the real jupyterhub-singleuser runs as a Slurm job, is reached through the proxy at the reported port, survives a hub restart', async () => {
    const token = th.token('alice');
    const res = await th.api('POST', '/users/alice/server', { token, body: { cores: 1 } });
    expect(res.status).toBeLessThan(300);
    const ready = await until(async () => {
      const u = (await (await th.api('GET', '/users/alice', { token })).json()) as { servers: Record<string, { ready: boolean; url: string }> };
      return u.servers['']?.ready ? u.servers[''] : null;
    }, 150_000, 'server ready');
    expect(ready.url).toBe('/user/alice/');
    const api = await fetch(`${th.url}/user/alice/api`);
    expect(api.status).toBe(200);
    expect(((await api.json()) as { version: string }).version).toMatch(/^\d/);
    const row = th.running.hub.stores.servers.get(th.running.hub.stores.users.get('alice')!.id, '')!;
    expect(row.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(JSON.parse(row.state)).toMatchObject({ jobId: expect.stringMatching(/^\d+$/), port: Number(new URL(row.url!).port) });
    // A report for a server that is no longer starting is refused.
    const jobTok = await jobToken(String(JSON.parse(row.state).jobId));
    const late = await th.api('POST', '/batchspawner', { token: jobTok, body: { port: 9999 } });
    expect(late.status).toBe(400);

    // A hub restart re-attaches to the running job from its state. Closing the hub closes the
    // kind's shared poller (SpawnerKind.close); the restarted hub gets a new one on demand.
    const oldPoller = pollerFor(th.running.hub.spawnerOptions as SlurmSpawnerOptions);
    expect(oldPoller.closed).toBe(false);
    await th.restart();
    expect(oldPoller.closed).toBe(true);
    const after = th.running.hub.stores.servers.get(th.running.hub.stores.users.get('alice')!.id, '')!;
    expect(after.url).toBe(row.url);
    expect(await th.running.hub.spawns.get('alice', '')?.spawner?.poll()).toBeNull();
    expect(pollerFor(th.running.hub.spawnerOptions as SlurmSpawnerOptions)).not.toBe(oldPoller);
    const again = await fetch(`${th.url}/user/alice/api`);
    expect(again.status).toBe(200);
    await again.arrayBuffer();

    expect(((await th.api('DELETE', '/users/alice/server', { token })).status)).toBeLessThan(300);
    // Stop is graceful: SIGTERM reaches the server (an srun step), it exits and the script ends on
    // its own before the scancel that would follow stopTimeoutSeconds later.
    const jobId = String(JSON.parse(row.state).jobId);
    const ended = await until(async () => {
      const st = (await slurm.client('squeue', ['-h', '--states=all', `--jobs=${jobId}`, '-o', '%T'])).trim();
      return /^(COMPLETED|FAILED|CANCELLED)/.test(st) ? st : null;
    }, 60_000, 'job ended');
    expect(ended).toBe('COMPLETED');
  }, 240_000);

  it('the spawn page: a free-resources table (also as JSON), max walltime per partition, last choices prefilled; ends_at in the API and on the home page', async () => {
    const token = th.token('carol');
    // The JSON endpoint: the caller's own view; nobody anonymous.
    expect((await th.api('GET', '/spawner/resources')).status).toBe(403);
    const res = await th.api('GET', '/spawner/resources', { token });
    expect(res.status).toBe(200);
    const table = (await res.json()) as { columns: { key: string }[]; rows: Record<string, string | number>[]; at: string };
    expect(table.columns.map((c) => c.key)).toContain('freeCores');
    expect(table.rows.map((r) => r.partition)).toEqual(['debug']);
    // No admin walltime limit for debug: Slurm's MaxTime (08:00:00 in test/services/slurm.ts) is the maximum.
    expect(table.rows[0]).toMatchObject({ nodesIdle: expect.any(Number), freeCores: expect.any(Number), maxWalltime: '08:00:00' });

    const b = new Browser(th.url);
    const first = await (await b.login('carol')).res.text();
    expect(first).toContain('Free resources');
    expect(first).toMatch(/<table id="resources-table">[\s\S]*<td>debug<\/td>/);
    expect(first).toContain('max walltime 08:00:00');
    expect(first).toMatch(/name="cores" type="number" value="1"/);
    // The cookie works for the JSON too (from a hub page, as the page's script calls it).
    const viaCookie = await b.request('GET', '/hub/api/spawner/resources', { headers: { Referer: `${th.url}/hub/spawn` } });
    expect(viaCookie.status).toBe(200);

    expect((await th.api('POST', '/users/carol/server', { token, body: { cores: 2, walltime: '45', memory: '512M' } })).status).toBeLessThan(300);
    const server = await until(async () => {
      const u = (await (await th.api('GET', '/users/carol', { token })).json()) as { servers: Record<string, { ready: boolean; ends_at: string | null }> };
      return u.servers['']?.ready ? u.servers[''] : null;
    }, 150_000, 'carol ready');
    const endsInMin = (Date.parse(server.ends_at!) - Date.now()) / 60_000;
    expect(endsInMin).toBeGreaterThan(42);
    expect(endsInMin).toBeLessThan(46);
    const home = await (await b.follow('/hub/home')).res.text();
    expect(home).toContain(`ends <time datetime="${server.ends_at}">`);

    expect((await th.api('DELETE', '/users/carol/server', { token })).status).toBeLessThan(300);
    await until(async () => !th.running.hub.spawns.get('carol', '') || null, 60_000, 'carol stopped');
    const again = await (await b.follow('/hub/spawn')).res.text();
    expect(again).toMatch(/name="cores" type="number" value="2"/);
    expect(again).toMatch(/name="walltime" type="text" value="00:45:00"/);
    expect(again).toMatch(/name="memory" type="text" value="512M"/);
  }, 240_000);

  it('forged reports are refused by the endpoint: no token, a user token, extra attributes, bad port, foreign host', async () => {
    const token = th.token('bob');
    try {
      expect((await th.api('POST', '/users/bob/servers/wait', { token, body: {} })).status).toBeLessThan(300);
      const jobId = await until(async () => {
        const row = th.running.hub.stores.servers.get(th.running.hub.stores.users.get('bob')!.id, 'wait');
        const id = row ? (JSON.parse(row.state || '{}') as { jobId?: string }).jobId : undefined;
        const active = th.running.hub.spawns.get('bob', 'wait') as unknown as { spawner?: { state(): { jobId?: string } } } | undefined;
        return id ?? active?.spawner?.state().jobId ?? null;
      }, 60_000, 'job id');
      await until(async () => (await slurm.client('squeue', ['-h', `--jobs=${jobId}`, '-o', '%T'])).trim() === 'RUNNING', 30_000, 'job running');
      const serverToken = await jobToken(jobId);
      const report = (body: unknown, tok?: string) => th.api('POST', '/batchspawner', { token: tok, body });
      expect((await report({ port: 8888 })).status).toBe(403);
      expect((await report({ port: 8888 }, token)).status).toBe(403);
      const extra = await report({ port: 8888, ip: '127.0.0.1', api_token: 'x' }, serverToken);
      expect(extra.status).toBe(400);
      expect(((await extra.json()) as { message: string }).message).toMatch(/Only "port" and "host"/);
      expect((await report({ port: '8888' }, serverToken)).status).toBe(400);
      expect((await report({ port: 0 }, serverToken)).status).toBe(400);
      expect((await report({ port: 8888, host: 'evil host' }, serverToken)).status).toBe(400);
      expect((await report('[1,2]', serverToken)).status).toBe(400);
      const foreign = await report({ port: 8888, host: 'evil.example.org' }, serverToken);
      expect(foreign.status).toBe(403);
      expect(((await foreign.json()) as { message: string }).message).toMatch(/not a node of job/);
      // The real node is accepted, and the hub waits for HTTP on exactly the reported port.
      const port = await freePort();
      const hits: string[] = [];
      const listener = createServer((req, res) => {
        hits.push(req.url ?? '');
        res.writeHead(200).end('ok');
      });
      await new Promise<void>((r) => listener.listen(port, '127.0.0.1', r));
      cleanups.push(() => new Promise((r) => { listener.closeAllConnections(); listener.close(() => r()); }));
      expect((await report({ port, host: slurm.nodeName }, serverToken)).status).toBe(200);
      // A second report is refused: by the spawner (403) while the hub still waits for HTTP on the
      // first port, or by the endpoint (400, not starting) once the server answered there and is
      // running - the listener answers at once, so which one comes first is a race.
      const second = await report({ port }, serverToken);
      expect([400, 403]).toContain(second.status);
      expect(((await second.json()) as { message: string }).message).toMatch(/not waiting for a port report/);
      await until(async () => th.running.hub.spawns.get('bob', 'wait')?.phase === 'running', 30_000, 'server ready at the reported port');
      expect(hits.some((u) => u.startsWith('/user/bob/wait/'))).toBe(true);
      const row = th.running.hub.stores.servers.get(th.running.hub.stores.users.get('bob')!.id, 'wait')!;
      expect(row.url).toBe(`http://127.0.0.1:${port}`);
    } finally {
      await th.api('DELETE', '/users/bob/servers/wait', { token }).catch(() => undefined);
      await th.running.hub.spawns.get('bob', 'wait')?.done;
      for (const c of cleanups.splice(0)) await c();
    }
  }, 180_000);
});
