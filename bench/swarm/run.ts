/**
 * Swarm spawner benchmark: N concurrent spawns through the spawner API (as the hub would call it),
 * timing start request → HTTP-reachable per server, and CPU used per spawn by this process (the
 * hub's share) and by dockerd+containerd (the engine's share). Host networking on 127.0.0.1.
 *
 *   npx tsx bench/swarm/run.ts [N=10] [stub|real|both]
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { pino } from 'pino';
import { swarmSpawnerKind, SwarmSpawnerOptions } from '../../src/spawners/swarm/index.js';
import { acquireDocker, removeLeftovers, TEST_IMAGE } from '../../test/services/docker.js';
import { freePort, waitForHttp } from '../../test/services/util.js';

const N = Number(process.argv[2] ?? 10);
const which = process.argv[3] ?? 'both';
const log = pino({ level: 'silent' });
const FIXTURES = resolve(import.meta.dirname, '../../test/fixtures');
const TICKS = 100; // USER_HZ

function engineCpuMs(): number {
  // dockerd and the containerd it started (and its shims) do the engine's work.
  const pids = (globalThis as any).enginePids as number[];
  let ticks = 0;
  for (const pid of pids) {
    try {
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    } catch { /* gone */ }
  }
  return (ticks * 1000) / TICKS;
}

/** The hub's environment for one server (contracts §1.2), as the hub would pass it. */
function hubEnv(user: string, hubPort: number): Record<string, string> {
  const token = randomBytes(16).toString('hex');
  const prefix = `/user/${user}/`;
  const api = `http://127.0.0.1:${hubPort}/hub/api`;
  const scopes = JSON.stringify([`access:servers!server=${user}/`, `access:servers!user=${user}`]);
  return {
    JUPYTERHUB_API_TOKEN: token, JPY_API_TOKEN: token, JUPYTERHUB_CLIENT_ID: `jupyterhub-user-${user}`, JUPYTERHUB_HOST: '',
    JUPYTERHUB_OAUTH_CALLBACK_URL: `${prefix}oauth_callback`, JUPYTERHUB_OAUTH_SCOPES: scopes, JUPYTERHUB_OAUTH_ACCESS_SCOPES: scopes,
    JUPYTERHUB_OAUTH_CLIENT_ALLOWED_SCOPES: '[]', JUPYTERHUB_USER: user, JUPYTERHUB_SERVER_NAME: '', JUPYTERHUB_API_URL: api,
    JUPYTERHUB_ACTIVITY_URL: `${api}/users/${user}/activity`, JUPYTERHUB_BASE_URL: '/', JUPYTERHUB_SERVICE_PREFIX: prefix,
  };
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

async function round(kind: 'stub' | 'real', hubPort: number) {
  const hubId = `bench${randomBytes(3).toString('hex')}`;
  const options = Value.Default(SwarmSpawnerOptions, {
    hubId,
    images: [{ image: TEST_IMAGE }],
    command: kind === 'stub' ? ['python3', '/opt/atrium-fixtures/stub-singleuser.py'] : ['jupyterhub-singleuser'],
    environment: { HOME: '/tmp' },
    user: '1000:1000',
    hostBindAddress: '127.0.0.1',
    stopTimeoutSeconds: 2,
    mounts: kind === 'stub' ? [{ type: 'bind', source: FIXTURES, target: '/opt/atrium-fixtures', readOnly: true }] : [],
  }) as SwarmSpawnerOptions;
  const users = Array.from({ length: N }, (_, i) => `bench${i}x${randomBytes(2).toString('hex')}`);
  const spawners = users.map((u) => swarmSpawnerKind.create({ options, user: { name: u, admin: false, groups: [] }, serverName: '', log }));
  const cpu0 = process.cpuUsage();
  const eng0 = engineCpuMs();
  const t0 = performance.now();
  const times = await Promise.all(
    spawners.map(async (s, i) => {
      const start = performance.now();
      const env = hubEnv(users[i]!, hubPort);
      const { url } = await s.start({
        user: { name: users[i]!, admin: false, groups: [] }, serverName: '', env, userOptions: {}, authState: null,
        baseUrl: env.JUPYTERHUB_SERVICE_PREFIX!, log, signal: AbortSignal.timeout(180_000),
      });
      const started = performance.now() - start;
      await waitForHttp(`${url}${env.JUPYTERHUB_SERVICE_PREFIX}`, 180_000);
      return { started, reachable: performance.now() - start };
    }),
  );
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const engine = engineCpuMs() - eng0;
  const s0 = performance.now();
  await Promise.all(spawners.map((s) => s.stop()));
  const stopWall = performance.now() - s0;
  await removeLeftovers(hubId, false);
  const reach = times.map((t) => t.reachable);
  return {
    kind,
    n: N,
    wallMs: Math.round(wall),
    reachableMs: { min: Math.round(Math.min(...reach)), p50: Math.round(pct(reach, 50)), max: Math.round(Math.max(...reach)) },
    startResolvedP50Ms: Math.round(pct(times.map((t) => t.started), 50)),
    hubCpuMsPerSpawn: Math.round((cpu.user + cpu.system) / 1000 / N),
    engineCpuMsPerSpawn: Math.round(engine / N),
    stopAllMs: Math.round(stopWall),
  };
}

/** Anchor: the same stub as plain `docker run -d --network host` containers (no Swarm, no spawner). */
async function anchorDockerRun() {
  const { execFile } = await import('node:child_process');
  const { promisify } = await import('node:util');
  const run = promisify(execFile);
  const ports = await Promise.all(Array.from({ length: N }, () => freePort()));
  const names = ports.map((p) => `atrium-bench-anchor-${p}`);
  const t0 = performance.now();
  const reach = await Promise.all(
    ports.map(async (port, i) => {
      const start = performance.now();
      await run('docker', ['run', '-d', '--rm', '--name', names[i]!, '--network', 'host', '-v', `${FIXTURES}:/opt/atrium-fixtures:ro`,
        '-e', `JUPYTERHUB_SERVICE_URL=http://127.0.0.1:${port}/user/a${i}/`, TEST_IMAGE, 'python3', '/opt/atrium-fixtures/stub-singleuser.py']);
      await waitForHttp(`http://127.0.0.1:${port}/user/a${i}/`, 120_000);
      return performance.now() - start;
    }),
  );
  const wall = performance.now() - t0;
  await run('docker', ['rm', '-f', ...names]).catch(() => undefined);
  return { kind: 'anchor: docker run (no swarm)', n: N, wallMs: Math.round(wall), reachableMs: { min: Math.round(Math.min(...reach)), p50: Math.round(pct(reach, 50)), max: Math.round(Math.max(...reach)) } };
}

async function main() {
  const handle = await acquireDocker();
  const dockerdPid = Number(readFileSync('/var/run/docker.pid', 'utf8'));
  const { execFileSync } = await import('node:child_process');
  const ps = execFileSync('ps', ['-eo', 'pid=,comm=']).toString().split('\n');
  (globalThis as any).enginePids = [dockerdPid, ...ps.filter((l) => /containerd/.test(l)).map((l) => Number(l.trim().split(/\s+/)[0]))];
  // singleuser exits without a hub; a minimal hub API answers its version check.
  const hubPort = await freePort();
  const hub = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(req.url === '/hub/api' ? { version: '3.0.0' } : {}));
  });
  await new Promise<void>((r) => hub.listen(hubPort, '127.0.0.1', () => r()));
  try {
    const kinds = which === 'both' ? (['stub', 'real'] as const) : ([which] as ['stub' | 'real']);
    for (const k of kinds) {
      const r = await round(k, hubPort);
      console.log(JSON.stringify(r));
    }
    if (which !== 'real') console.log(JSON.stringify(await anchorDockerRun()));
  } finally {
    hub.close();
    await handle.release();
  }
}

await main();
