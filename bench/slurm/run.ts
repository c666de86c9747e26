/**
 * Slurm spawner benchmark, against a real Slurm (slurmctld + slurmd + munge on 127.0.0.1, from
 * test/services/slurm.ts; the `debug` partition oversubscribed so 100 jobs run on 2 cores):
 *
 * 1. N concurrent spawns through the spawner API as the hub calls it (the port reports go to a
 *    relay standing in for POST /hub/api/batchspawner), each job running the stdlib Python stub
 *    server under the port wrapper. Hub overhead per spawn: CPU of this process (the hub's share:
 *    spawner, poller, report check) plus its child processes (sbatch, squeue, scontrol), and
 *    slurmctld's CPU, divided by N; start() → port accepted, p50 / p95.
 * 2. Steady state with N running sessions for WINDOW seconds: every server is polled every
 *    INTERVAL seconds as the hub's poll loop does (staggered), and the shared poller runs its
 *    cycles. squeue calls per minute, slurmctld CPU and hub-side CPU (own + children) per minute.
 * 3. The anchor, same sessions, same window and interval: batchspawner's way, one
 *    `squeue -h -j ID -o '%T %B'` per server per poll, staggered the same way.
 *
 * All squeue calls go through one counting wrapper (a shell script), in both modes alike.
 *
 *   npx tsx bench/slurm/run.ts [N=100] [WINDOW=60] [INTERVAL=10]
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { closeSlurmPollers } from '../../src/spawners/slurm/index.js';
import type { SpawnContext, Spawner } from '../../src/spawners/spawner.js';
import { startSlurm } from '../../test/services/slurm.js';
import { countingSqueue, slurmOptions, slurmSpawnerKind, startRelay, tempHome } from '../../test/spawners/slurm-fixture.js';

const N = Number(process.argv[2] ?? 100);
const WINDOW_S = Number(process.argv[3] ?? 60);
const INTERVAL_S = Number(process.argv[4] ?? 10);
const STUB_PY = resolve(import.meta.dirname, '../../test/fixtures/stub-singleuser.py');
const TICKS = 100; // USER_HZ
const log = pino({ level: 'silent' });
const exec = promisify(execFile);

/** CPU ms of a process (utime + stime), or with `children` also of its reaped children. */
function procCpuMs(pid: number | 'self', children = false): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const ticks = Number(f[11]) + Number(f[12]) + (children ? Number(f[13]) + Number(f[14]) : 0);
  return (ticks * 1000) / TICKS;
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function hubEnv(user: string): Record<string, string> {
  const token = randomBytes(16).toString('hex');
  const prefix = `/user/${user}/`;
  // Nobody listens there: the stub's one activity report fails harmlessly.
  const api = 'http://127.0.0.1:9/hub/api';
  return {
    JUPYTERHUB_API_TOKEN: token, JPY_API_TOKEN: token, JUPYTERHUB_CLIENT_ID: `jupyterhub-user-${user}`, JUPYTERHUB_HOST: '',
    JUPYTERHUB_OAUTH_CALLBACK_URL: `${prefix}oauth_callback`, JUPYTERHUB_OAUTH_SCOPES: '[]', JUPYTERHUB_OAUTH_ACCESS_SCOPES: '[]',
    JUPYTERHUB_OAUTH_CLIENT_ALLOWED_SCOPES: '[]', JUPYTERHUB_USER: user, JUPYTERHUB_SERVER_NAME: '', JUPYTERHUB_API_URL: api,
    JUPYTERHUB_ACTIVITY_URL: `${api}/users/${user}/activity`, JUPYTERHUB_BASE_URL: '/', JUPYTERHUB_SERVICE_PREFIX: prefix,
  };
}

/** Runs `each(i)` for every server every INTERVAL seconds, server i offset by i/N of the interval. */
async function staggered(each: (i: number) => Promise<unknown>): Promise<number> {
  const end = Date.now() + WINDOW_S * 1000;
  let calls = 0;
  await Promise.all(Array.from({ length: N }, async (_, i) => {
    await sleep((i / N) * INTERVAL_S * 1000);
    while (Date.now() < end) {
      const t = Date.now();
      await each(i);
      calls++;
      await sleep(Math.max(0, INTERVAL_S * 1000 - (Date.now() - t)));
    }
  }));
  return calls;
}

async function main() {
  const slurm = await startSlurm({ oversubscribe: Math.max(20, Math.ceil(N / 2) + 10) });
  const relay = await startRelay();
  const home = tempHome();
  const ctldPid = Number(readFileSync(join(slurm.dir, 'slurmctld.pid'), 'utf8'));
  const counter = countingSqueue(home);
  const base = slurmOptions(slurm, home, relay.url);
  const options = slurmOptions(slurm, home, relay.url, {
    cmd: ['python3', STUB_PY],
    commands: { ...base.commands, squeue: counter.path },
    partitions: [{ name: 'debug', defaultMemory: '20M', defaultWalltime: '60', maxCores: 1 } as never],
    poll: { intervalSeconds: INTERVAL_S, startIntervalSeconds: 1, jitter: 0.2, maxBackoffSeconds: 60 },
  });
  const kind = relay.wrap(slurmSpawnerKind);
  const tag = randomBytes(3).toString('hex');
  const users = Array.from({ length: N }, (_, i) => `bench${tag}u${i}`);
  const spawners: Spawner[] = users.map((u) => kind.create({ options, user: { name: u, admin: false, groups: [] }, serverName: '', log }));
  const results: Record<string, unknown> = { n: N, windowSeconds: WINDOW_S, intervalSeconds: INTERVAL_S };
  try {
    // 1. N concurrent spawns.
    counter.reset();
    const own0 = procCpuMs('self', true);
    const ctld0 = procCpuMs(ctldPid);
    const t0 = performance.now();
    const times = await Promise.all(spawners.map(async (s, i) => {
      const env = hubEnv(users[i]!);
      const ctx: SpawnContext = {
        user: { name: users[i]!, admin: false, groups: [] }, serverName: '', env, userOptions: {}, authState: null,
        baseUrl: env.JUPYTERHUB_SERVICE_PREFIX!, log, signal: AbortSignal.timeout(600_000),
        ownerTag: `bench${tag}:${i}:1`, recordHandle: () => undefined,
      };
      const start = performance.now();
      await s.start(ctx);
      return performance.now() - start;
    }));
    const spawnWall = performance.now() - t0;
    results.spawn = {
      wallMs: Math.round(spawnWall),
      startToPortMs: { p50: Math.round(pct(times, 50)), p95: Math.round(pct(times, 95)), max: Math.round(Math.max(...times)) },
      hubCpuMsPerSpawn: +((procCpuMs('self', true) - own0) / N).toFixed(1),
      slurmctldCpuMsPerSpawn: +((procCpuMs(ctldPid) - ctld0) / N).toFixed(1),
      squeueCalls: counter.count(),
    };
    console.log(JSON.stringify({ phase: 'spawn', ...(results.spawn as object) }));

    // 2. Steady state, Atrium: per-server poll() reads the shared poller's snapshot.
    const ids = spawners.map((s) => String(s.state().jobId));
    await sleep(INTERVAL_S * 1000); // let the start-time fast cycles settle
    counter.reset();
    let notRunning = 0;
    let own = procCpuMs('self', true);
    let ctld = procCpuMs(ctldPid);
    const polls = await staggered(async (i) => {
      if ((await spawners[i]!.poll()) !== null) notRunning++;
    });
    const atrium = {
      squeuePerMin: +(counter.count() / (WINDOW_S / 60)).toFixed(1),
      hubPollsPerMin: +(polls / (WINDOW_S / 60)).toFixed(1),
      slurmctldCpuMsPerMin: +((procCpuMs(ctldPid) - ctld) / (WINDOW_S / 60)).toFixed(1),
      hubCpuMsPerMin: +((procCpuMs('self', true) - own) / (WINDOW_S / 60)).toFixed(1),
      sessionsLost: notRunning,
    };
    console.log(JSON.stringify({ phase: 'steady, atrium (one squeue per cycle)', ...atrium }));

    // Baseline: the same sessions, nobody asking (slurmctld's own background work, the jobs' upkeep).
    closeSlurmPollers(); // its timer would add calls to the count
    own = procCpuMs('self', true);
    ctld = procCpuMs(ctldPid);
    await sleep(WINDOW_S * 1000);
    const idle = {
      slurmctldCpuMsPerMin: +((procCpuMs(ctldPid) - ctld) / (WINDOW_S / 60)).toFixed(1),
      hubCpuMsPerMin: +((procCpuMs('self', true) - own) / (WINDOW_S / 60)).toFixed(1),
    };
    console.log(JSON.stringify({ phase: 'baseline, no polling', ...idle }));

    // 3. The anchor: one squeue per server per poll (batchspawner's SlurmSpawner.poll).
    counter.reset();
    own = procCpuMs('self', true);
    ctld = procCpuMs(ctldPid);
    await staggered(async (i) => {
      await exec(counter.path, ['-h', '-j', ids[i]!, '-o', '%T %B'], { env: { ...process.env, ...slurm.env } });
    });
    const batch = {
      squeuePerMin: +(counter.count() / (WINDOW_S / 60)).toFixed(1),
      slurmctldCpuMsPerMin: +((procCpuMs(ctldPid) - ctld) / (WINDOW_S / 60)).toFixed(1),
      hubCpuMsPerMin: +((procCpuMs('self', true) - own) / (WINDOW_S / 60)).toFixed(1),
    };
    console.log(JSON.stringify({ phase: 'steady, batchspawner way (one squeue per server per poll)', ...batch }));
    const ratio = (a: number, b: number) => (a > 0 ? +(b / a).toFixed(1) : null);
    results.steady = { atrium, batchspawner: batch, baseline: idle };
    // slurmctld CPU above the idle baseline is what the polling costs the controller.
    const net = (v: number) => Math.max(0, v - idle.slurmctldCpuMsPerMin);
    results.ratios = {
      squeueCalls: ratio(atrium.squeuePerMin, batch.squeuePerMin),
      slurmctldCpuAboveBaseline: ratio(net(atrium.slurmctldCpuMsPerMin), net(batch.slurmctldCpuMsPerMin)),
      slurmctldCpuAboveBaselineMsPerMin: { atrium: net(atrium.slurmctldCpuMsPerMin), batchspawner: net(batch.slurmctldCpuMsPerMin) },
      hubSideCpu: ratio(atrium.hubCpuMsPerMin, batch.hubCpuMsPerMin),
    };
    console.log(JSON.stringify({ phase: 'ratios (batchspawner way / atrium)', ...(results.ratios as object) }));
  } finally {
    const s0 = performance.now();
    await Promise.all(spawners.map((s) => s.stop({ immediate: true }).catch(() => undefined)));
    console.log(JSON.stringify({ phase: 'stop all (immediate)', wallMs: Math.round(performance.now() - s0) }));
    closeSlurmPollers();
    await relay.close();
    await slurm.stop();
    rmSync(home, { recursive: true, force: true });
  }
  console.log(JSON.stringify({ result: results }));
}

await main();
