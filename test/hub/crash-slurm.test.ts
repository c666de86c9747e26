/**
 * kill -9 of the hub during Slurm spawns leaves no orphan and no duplicate job: the storm of
 * crash-swarm.test.ts with the real hub process, the real atrium-proxy and a real Slurm
 * (test/services/slurm.ts), the node stub server inside each job. Jobs are counted with squeue by
 * their job name (`atrium-<user>`, users unique to the test), independent of the owner-tag comment
 * under test. A job Slurm lists as COMPLETING has been cancelled and counts as gone.
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startSlurm, type Slurm } from '../services/slurm.js';
import { tempHome } from '../spawners/slurm-fixture.js';
import { hubProcess, type HubProcess } from './hub-process.js';
import { STUB_NODE, waitFor } from './harness.js';
import { allReady, answersThroughProxy, backendCensus, checkRestoredThenRestartAll, getAfterRestart, restoreOfStart } from './crash-probe.js';

const USERS = 4;
let slurm: Slurm;
let home = '';
let hp: HubProcess | null = null;
let prefix = '';

beforeAll(async () => {
  slurm = await startSlurm();
  home = tempHome();
}, 180_000);
afterEach(async () => {
  const ids = (await jobs()).map((j) => j.id);
  if (ids.length) await slurm.client('scancel', ids).catch(() => undefined);
  await hp?.teardown();
  hp = null;
}, 120_000);
afterAll(async () => {
  await slurm?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
}, 120_000);

interface Job {
  id: string;
  user: string;
  state: string;
}

/** This test's live jobs (pending, running), by job name. */
async function jobs(): Promise<Job[]> {
  const out = await slurm.client('squeue', ['-h', '-o', '%i|%j|%T']);
  return out
    .split('\n')
    .map((l) => l.trim().split('|'))
    .filter((f) => f.length === 3 && f[1]!.startsWith(`atrium-${prefix}`) && /^(PENDING|RUNNING|CONFIGURING|SUSPENDED)$/.test(f[2]!))
    .map(([id, name, state]) => ({ id: id!, user: name!.slice('atrium-'.length), state: state! }));
}

async function census(h: HubProcess) {
  return backendCensus(h, await jobs(), (state) => state.jobId);
}

function slurmHub(): Promise<HubProcess> {
  return hubProcess({
    spawner: {
      kind: 'slurm',
      slowSpawnTimeoutSeconds: 1,
      startTimeoutSeconds: 120,
      slurm: {
        runAs: 'hub',
        clientEnvironment: slurm.env,
        path: process.env.PATH,
        homeDir: home,
        python: '/usr/bin/python3',
        cmd: [process.execPath, STUB_NODE],
        srun: '',
        bindAddress: '127.0.0.1',
        partitions: [
          { name: 'debug', defaultMemory: '50M', defaultWalltime: '30', maxCores: 2 },
          { name: 'small', defaultMemory: '50M', defaultWalltime: '30', maxCores: 1 },
        ],
        poll: { intervalSeconds: 1, startIntervalSeconds: 0.5, jitter: 0.2, maxBackoffSeconds: 4 },
        stopTimeoutSeconds: 2,
      },
    },
  });
}

async function jobState(id: string): Promise<string> {
  return (await slurm.client('squeue', ['-h', '--states=all', `--jobs=${id}`, '-o', '%T'])).trim();
}

describe('hub restarted while a Slurm job waits in the queue', () => {
  it('SIGTERM + start: the queued job is cancelled at restore (no orphan), the server shows stopped, a new spawn works', async () => {
    prefix = `q${randomBytes(3).toString('hex')}`;
    // Fill `small` (one CPU, no oversubscription) so the spawn stays PENDING.
    const blocker = (await slurm.client('sbatch', ['--parsable', '-p', 'small', '--mem=20M', `--chdir=${home}`, '-o', '/dev/null', '--wrap', 'sleep 300'])).trim();
    try {
      await waitFor(async () => (await jobState(blocker)) === 'RUNNING', 30_000, 200);
      const h = await slurmHub();
      hp = h;
      await h.start();
      const name = `${prefix}u`;
      const token = h.token(name);
      expect((await h.api('POST', `/users/${name}/server`, { token, body: { partition: 'small' } })).status).toBe(202);
      const queued = await waitFor(async () => (await jobs()).find((j) => j.state === 'PENDING') ?? null, 60_000, 200);
      // The handle is in the database before the hub goes: the row names the queued job.
      const db = h.db();
      try {
        const row = db.prepare("SELECT s.status, s.state FROM servers s JOIN users u ON u.id = s.user_id WHERE u.name = ?").get(name) as { status: string; state: string };
        expect(row.status).toBe('pending');
        expect(JSON.parse(row.state)).toMatchObject({ jobId: queued.id, user: name });
      } finally {
        db.close();
      }
      const exit = await h.kill('SIGTERM');
      expect(exit.code).toBe(0);
      // A graceful hub stop leaves the job alone.
      expect(await jobState(queued.id)).toBe('PENDING');

      await h.start();
      const rl = await restoreOfStart(() => h.output(), 2);
      expect(rl).toMatchObject({ restored: 0, stopped: 1 });
      expect(await jobState(queued.id)).toMatch(/^CANCELLED/);
      const c = await census(h);
      expect(c.orphans).toEqual([]);
      expect(c.live).toBe(0);
      const user = (await (await h.api('GET', `/users/${name}`, { token })).json()) as { servers: Record<string, unknown> };
      expect(user.servers).toEqual({});

      await slurm.client('scancel', [blocker]);
      expect((await h.api('POST', `/users/${name}/server`, { token, body: { partition: 'small' } })).status).toBeLessThan(300);
      await waitFor(() => answersThroughProxy(h, name), 120_000, 300);
      expect((await census(h)).live).toBe(1);
    } finally {
      await slurm.client('scancel', [blocker]).catch(() => undefined);
    }
  }, 300_000);
});

describe('hub killed with -9 during Slurm spawns', () => {
  for (const point of ['first job submitted', 'all ready'] as const) {
    it(`kill at ${point}: no orphan, no duplicate job; starting everyone again gives nobody a second one`, async () => {
      prefix = `k${randomBytes(3).toString('hex')}`;
      const h = await slurmHub();
      hp = h;
      await h.start();
      const admin = h.token('admin');
      const names = Array.from({ length: USERS }, (_, i) => `${prefix}u${i}`);
      expect((await h.api('POST', '/users', { token: admin, body: { usernames: names } })).status).toBe(201);
      const fire = () => names.map((n) => h.api('POST', `/users/${n}/server`, { token: admin }).then(async (r) => (await r.arrayBuffer(), r.status), () => 0));
      const requests = fire();
      if (point === 'all ready') {
        await Promise.all(requests);
        await waitFor(() => allReady(h, admin, names), 180_000, 500);
      } else {
        await waitFor(async () => (await jobs()).length > 0, 120_000, 20);
      }
      await h.kill('SIGKILL');
      await Promise.all(requests);
      const before = (await jobs()).length;

      await h.start();
      expect((await getAfterRestart(h, '/users', admin)).status).toBe(200);
      await checkRestoredThenRestartAll({
        h, label: `slurm, kill at ${point} (jobs)`, before, allWereReady: point === 'all ready', admin, names, census: () => census(h), fire,
      });
    }, 420_000);
  }
});
