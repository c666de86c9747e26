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
import { answersThroughProxy, backendCensus, killDuringStorm, restoreOfStart } from './crash-probe.js';

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

/** Pending rows own their job too: a spawn caught queued is resumed, not stopped. */
async function census(h: HubProcess) {
  return backendCensus(h, await jobs(), (state) => state.jobId, ['running', 'pending']);
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

/**
 * The progress stream of a server (SSE), read until `until` matches or `ms` pass; the text read.
 * The stream stays open while the spawn waits, so it is cut by the test.
 */
async function progressText(h: HubProcess, user: string, token: string, until: RegExp, ms: number): Promise<string> {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), ms);
  let text = '';
  try {
    const res = await fetch(`${h.url}/hub/api/users/${user}/server/progress`, { headers: { Authorization: `token ${token}` }, signal: ctl.signal });
    if (res.status !== 200) return `HTTP ${res.status} ${await res.text()}`;
    const reader = res.body!.getReader();
    const dec = new TextDecoder();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += dec.decode(value, { stream: true });
      if (until.test(text)) break;
    }
    ctl.abort();
  } catch {
    // aborted by the timer: return what came
  } finally {
    clearTimeout(timer);
  }
  return text;
}

describe('hub restarted while Slurm jobs wait in the queue (resume pending spawn)', () => {
  it('queued jobs are kept and their spawns finish after the restart; a job gone meanwhile fails its spawn with the reason', async () => {
    prefix = `q${randomBytes(3).toString('hex')}`;
    // Fill `small` (one CPU, no oversubscription) so the spawns stay PENDING.
    const blocker = (await slurm.client('sbatch', ['--parsable', '-p', 'small', '--mem=20M', `--chdir=${home}`, '-o', '/dev/null', '--wrap', 'sleep 300'])).trim();
    try {
      await waitFor(async () => (await jobState(blocker)) === 'RUNNING', 30_000, 200);
      const h = await slurmHub();
      hp = h;
      await h.start();
      // keep: waits through the restart and starts; gone: cancelled while the hub is down;
      // dies: cancelled after the restart, while the resumed spawn waits.
      const [keep, gone, dies] = ['keep', 'gone', 'dies'].map((s) => `${prefix}${s}`) as [string, string, string];
      const tokens = Object.fromEntries([keep, gone, dies].map((n) => [n, h.token(n)]));
      for (const n of [keep, gone, dies]) {
        expect((await h.api('POST', `/users/${n}/server`, { token: tokens[n], body: { partition: 'small' } })).status).toBe(202);
      }
      const queued = await waitFor(async () => {
        const js = (await jobs()).filter((j) => j.state === 'PENDING');
        return js.length === 3 ? new Map(js.map((j) => [j.user, j.id])) : null;
      }, 60_000, 200);
      // The handle is in the database before the hub goes: the row names the queued job.
      const db = h.db();
      try {
        const row = db.prepare("SELECT s.status, s.state FROM servers s JOIN users u ON u.id = s.user_id WHERE u.name = ?").get(keep) as { status: string; state: string };
        expect(row.status).toBe('pending');
        expect(JSON.parse(row.state)).toMatchObject({ jobId: queued.get(keep), user: keep });
      } finally {
        db.close();
      }
      const exit = await h.kill('SIGTERM');
      expect(exit.code).toBe(0);
      // A graceful hub stop leaves the jobs alone.
      expect(await jobState(queued.get(keep)!)).toBe('PENDING');
      await slurm.client('scancel', [queued.get(gone)!]);

      await h.start();
      const rl = await restoreOfStart(() => h.output(), 2);
      expect(rl).toMatchObject({ restored: 0, resumed: 2, stopped: 1 });
      expect(await jobState(queued.get(keep)!)).toBe('PENDING');
      const c = await backendCensus(h, await jobs(), (state) => state.jobId, ['running', 'pending']);
      expect(c.orphans).toEqual([]);
      expect(c.live).toBe(2);
      // The kept spawn is still a pending spawn, with its queue reason on the progress stream.
      const user = (await (await h.api('GET', `/users/${keep}`, { token: tokens[keep] })).json()) as { servers: Record<string, { pending: string | null; ready: boolean }> };
      expect(user.servers['']).toMatchObject({ pending: 'spawn', ready: false });
      expect(await progressText(h, keep, tokens[keep]!, /Queued \(/, 15_000)).toMatch(/still waiting for batch job[\s\S]*Queued \((Resources|Priority)/);
      // Gone while the hub was down: stopped at restore, and the progress stream says why.
      const goneText = await progressText(h, gone, tokens[gone]!, /"failed":true/, 5_000);
      expect(goneText).toMatch(/"failed":true/);
      expect(goneText).toMatch(/backend is gone: job \d+ (CANCELLED|is no longer known)/);
      // Cancelled after the restart: the resumed spawn fails within seconds, with the job's state.
      const t0 = Date.now();
      const diesText = progressText(h, dies, tokens[dies]!, /"failed":true/, 20_000);
      await slurm.client('scancel', [queued.get(dies)!]);
      const text = await diesText;
      const failedMs = Date.now() - t0;
      console.log(`[measure] resumed spawn whose job was cancelled failed after ${failedMs} ms`);
      expect(text).toMatch(/ended before the server started: (CANCELLED|no longer known)[^"]*","failed":true/);
      expect(failedMs).toBeLessThan(5_000);
      // The failure is shown first, then the cleanup (scancel confirmed, token revoked) ends it.
      await waitFor(async () => Object.keys(((await (await h.api('GET', `/users/${dies}`, { token: tokens[dies] })).json()) as { servers: object }).servers).length === 0, 10_000, 200);

      // The queue frees up: the kept job runs, reports its port with the token it was given before
      // the restart, and the spawn finishes through readiness and the proxy route.
      const readyText = progressText(h, keep, tokens[keep]!, /"ready":true/, 120_000);
      await slurm.client('scancel', [blocker]);
      expect(await readyText).toMatch(/"ready":true/);
      await waitFor(() => answersThroughProxy(h, keep), 30_000, 300);
      const after = await backendCensus(h, await jobs(), (state) => state.jobId);
      expect(after).toMatchObject({ live: 1, running: 1, orphans: [] });
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
      await killDuringStorm({
        h, label: `slurm, kill at ${point} (jobs)`, point: point === 'all ready' ? 'all ready' : 'first object',
        names: Array.from({ length: USERS }, (_, i) => `${prefix}u${i}`), objects: jobs, census: () => census(h),
      });
    }, 420_000);
  }
});
