/**
 * The Slurm spawner against a real Slurm (slurmctld + slurmd + munge on 127.0.0.1): the shared
 * contract with the node stub inside the job, then what only a batch job has — the port report,
 * a job that dies before it reports, a queued spawn, a controller outage, restore, one squeue per
 * cycle, forged reports, the token kept out of Slurm's views. The real jupyterhub-singleuser needs
 * the hub API, so it runs in slurm-hub.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeSlurmPollers, clusterResources, pollerFor } from '../../src/spawners/slurm/index.js';
import { userAccounts, userReservations } from '../../src/spawners/slurm/cluster-info.js';
import { slurmOptionsForm } from '../../src/spawners/slurm/form.js';
import type { SlurmSpawnerOptions } from '../../src/spawners/slurm/options.js';
import type { ProgressEvent, Spawner } from '../../src/spawners/spawner.js';
import { startSlurm, type Slurm } from '../services/slurm.js';
import { freePort, waitForHttp } from '../services/util.js';
import { contractContext, contractEnv, runSpawnerContract, silentLog } from './contract.js';
import { countingSqueue, slurmOptions, slurmSpawnerKind, startRelay, tempHome, type Relay } from './slurm-fixture.js';

let slurm: Slurm;
let relay: Relay;
let home: string;
let opts: (p?: Partial<SlurmSpawnerOptions>) => SlurmSpawnerOptions;
const ready = (async () => {
  [slurm, relay] = await Promise.all([startSlurm(), startRelay()]);
  home = tempHome();
  opts = (p = {}) => slurmOptions(slurm, home, relay.url, p);
})();
afterAll(async () => {
  closeSlurmPollers();
  await relay?.close();
  await slurm?.stop();
});

runSpawnerContract('slurm', async () => {
  await ready;
  return {
    kind: relay.wrap(slurmSpawnerKind),
    options: opts(),
    stub: true,
    startTimeoutMs: 60_000,
    failingOptions: opts({ cmd: ['/bin/sh', '-c', 'echo boom >&2; exit 3'] }),
    neverReadyOptions: opts({ cmd: ['sleep', '600'] }),
  };
});

const user = (tag: string) => `sl${tag}${randomBytes(3).toString('hex')}`;
const spawners: Spawner[] = [];
afterAll(async () => {
  for (const s of spawners) await s.stop().catch(() => undefined);
});

function make(name: string, o: SlurmSpawnerOptions, serverName = ''): Spawner {
  const s = relay.track(slurmSpawnerKind.create({ options: o, user: { name, admin: false, groups: [] }, serverName, log: silentLog }));
  spawners.push(s);
  return s;
}

async function squeue(jobId: string): Promise<string> {
  return (await slurm.client('squeue', ['-h', '--states=all', `--jobs=${jobId}`, '-o', '%T|%r'])).trim();
}

function begin(s: Spawner, name: string, userOptions: Record<string, unknown> = {}, serverName = '') {
  const env = contractEnv(name, serverName, 1);
  const ac = new AbortController();
  const ctx = { ...contractContext(name, serverName, env, ac.signal), userOptions };
  const events: ProgressEvent[] = [];
  const started = s.start(ctx);
  void (async () => {
    for await (const e of s.progress!()) events.push(e);
  })();
  return { started, ac, env, events };
}

async function until(check: () => Promise<boolean> | boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out: ${what}`);
}

describe('Slurm spawner, real Slurm', () => {
  beforeAll(async () => {
    await ready;
  }, 120_000);

  it('submit → report → reachable; the token is in no Slurm view and not on the command line', async () => {
    const name = user('r');
    const s = make(name, opts(), 'nb');
    const { started, env, events } = begin(s, name, { cores: 1, walltime: '20' }, 'nb');
    const { url } = await started;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(await waitForHttp(`${url}${env.JUPYTERHUB_SERVICE_PREFIX}api/status`, 10_000)).toBe(200);
    expect(events.map((e) => e.message).join('\n')).toMatch(/Submitted batch job \d+[\s\S]*Server reported port/);
    const jobId = String(s.state().jobId);
    const token = env.JUPYTERHUB_API_TOKEN!;
    const views = [
      await slurm.client('scontrol', ['show', 'job', '-dd', jobId]),
      await slurm.client('scontrol', ['write', 'batch_script', jobId, '-']),
      await slurm.client('squeue', ['-h', '-o', '%all']),
    ];
    expect(views[0]).toContain(`JobName=atrium-${name}-nb`);
    expect(views[1]).toContain('#SBATCH --partition=debug');
    for (const v of views) expect(v).not.toContain(token);
    const reported = relay.reports.find((r) => r.status === 200 && (r.body as { port?: number }).port === Number(new URL(url).port));
    expect(reported, 'the job reported its port (and host) itself').toBeTruthy();
    await s.stop();
    // TERM reaches the batch shell too, so a stopped job may end FAILED; what matters is that it ended.
    expect(await squeue(jobId)).toMatch(/^(CANCELLED|COMPLETED|FAILED)/);
  }, 120_000);

  it('a job cancelled before it reports its port fails start() within 5 s with its state', async () => {
    const name = user('k');
    const s = make(name, opts({ cmd: ['sleep', '600'] }));
    const { started } = begin(s, name);
    const failed = started.then(() => null, (e: Error) => e);
    let jobId = '';
    await until(async () => {
      jobId = String(s.state().jobId ?? '');
      return jobId !== '' && (await squeue(jobId)).startsWith('RUNNING');
    }, 30_000, 'job running');
    const t0 = Date.now();
    await slurm.client('scancel', [jobId]);
    const err = await failed;
    const elapsedMs = Date.now() - t0;
    expect(err?.name).toBe('SpawnError');
    expect(err?.message).toMatch(new RegExp(`job ${jobId} ended before the server started: (CANCELLED|COMPLETING)`));
    expect(elapsedMs).toBeLessThan(5000);
    expect(await s.poll()).not.toBeNull();
  }, 60_000);

  it('crash safety: the owner tag is the job comment (a template cannot replace it); a handle that cannot be recorded cancels the job', async () => {
    const name = user('t');
    const tpl = opts().batchScript.replace('#!/bin/bash', '#!/bin/bash\n#SBATCH --comment=from-template');
    const s = make(name, opts({ cmd: ['sleep', '600'], batchScript: tpl }));
    const ac = new AbortController();
    const env = contractEnv(name, '', 1);
    const tagged = { ...contractContext(name, '', env, ac.signal), ownerTag: 'hubx:7:abc' };
    const started = s.start(tagged).catch((e: Error) => e);
    await until(() => s.state().jobId !== undefined, 30_000, 'job submitted');
    const jobId = String(s.state().jobId);
    expect((await slurm.client('squeue', ['-h', `--jobs=${jobId}`, '-o', '%k'])).trim()).toBe('hubx:7:abc');
    const found = await slurmSpawnerKind.sweep!({ options: opts(), ownerPrefix: 'hubx:', log: silentLog });
    expect(found).toEqual([{ tag: 'hubx:7:abc', state: { jobId, user: expect.any(String) }, description: expect.stringContaining(`job ${jobId}`) }]);
    ac.abort(new Error('done'));
    await started;

    const t = make(user('d'), opts({ cmd: ['sleep', '600'] }));
    const failing = { ...contractContext('x', '', contractEnv('x', '', 1), new AbortController().signal), recordHandle: () => { throw new Error('database is locked'); } };
    const err = await t.start(failing).then(() => null, (e: Error) => e);
    expect(err?.message).toBe('database is locked');
    const id = String(t.state().jobId);
    expect(await squeue(id)).toMatch(/^(CANCELLED|COMPLETING)/);
  }, 60_000);

  it('a job whose server exits at once fails with the tail of its output', async () => {
    const name = user('o');
    const s = make(name, opts({ cmd: ['/bin/sh', '-c', 'echo "no such kernel: atrium-test" >&2; exit 4'] }));
    const err = await begin(s, name).started.then(() => null, (e: Error) => e);
    expect(err?.message).toMatch(/FAILED/);
    expect(err?.message).toContain('no such kernel: atrium-test');
  }, 60_000);

  it('a queued spawn (partition small full) shows its reason, survives restore, and is cancelled with scancel', async () => {
    // Fill `small` (one CPU, no oversubscription) with a plain job.
    const blocker = (await slurm.client('sbatch', ['--parsable', '-p', 'small', '--mem=50M', `--chdir=${home}`, '-o', '/dev/null', '--wrap', 'sleep 300'])).trim();
    try {
      await until(async () => (await squeue(blocker)).startsWith('RUNNING'), 30_000, 'blocker running');
      const name = user('q');
      const s = make(name, opts());
      const { started, ac, events } = begin(s, name, { partition: 'small' });
      const failed = started.then(() => null, (e: Error) => e);
      await until(() => events.some((e) => /^Queued \((Resources|Priority)/.test(e.message)), 30_000, 'queued progress event');
      const jobId = String(s.state().jobId);
      expect(await squeue(jobId)).toMatch(/^PENDING/);

      // A restarted hub keeps a queued job: restore, poll → still "running" (null).
      const again = make(name, opts());
      again.restore(JSON.parse(JSON.stringify(s.state())));
      expect(await again.poll()).toBeNull();

      ac.abort(new Error('user cancelled'));
      const err = await failed;
      expect(err?.message).toMatch(/cancelled/i);
      expect(await squeue(jobId)).toMatch(/^CANCELLED/);
      expect(await again.poll()).not.toBeNull();
    } finally {
      await slurm.client('scancel', [blocker]).catch(() => undefined);
    }
  }, 90_000);

  it('forged reports are refused: another host, a bad port, nobody waiting', async () => {
    const name = user('f');
    const s = make(name, opts({ cmd: ['sleep', '600'] }));
    const { started } = begin(s, name);
    await until(async () => {
      const id = String(s.state().jobId ?? '');
      return id !== '' && (await squeue(id)).startsWith('RUNNING');
    }, 30_000, 'job running');
    await expect(s.report!({ host: 'evil.example.org', port: 4000, peer: '127.0.0.1' })).rejects.toThrow(/not a node of job/);
    await expect(s.report!({ host: '10.1.2.3', port: 4000, peer: '127.0.0.1' })).rejects.toThrow(/not a node of job/);
    await expect(s.report!({ host: null, port: 0, peer: '127.0.0.1' })).rejects.toThrow(/port/);
    await expect(s.report!({ host: null, port: 70000, peer: '127.0.0.1' })).rejects.toThrow(/port/);
    // The node's own names are accepted: NodeName here, and the hub connects to its NodeAddr.
    const port = await freePort();
    await s.report!({ host: slurm.nodeName, port, peer: '127.0.0.1' });
    expect((await started).url).toBe(`http://127.0.0.1:${port}`);
    await expect(s.report!({ host: null, port: port + 1, peer: '127.0.0.1' })).rejects.toThrow(/not waiting/);
    await s.stop();
  }, 60_000);

  it('cluster info: free resources per partition, accounts fall back without accounting, reservations per user', async () => {
    const res = await clusterResources(opts());
    const debug = res.find((r) => r.partition === 'debug')!;
    const small = res.find((r) => r.partition === 'small')!;
    expect(debug).toMatchObject({ nodesTotal: 1, maxWalltime: '08:00:00', freeGpus: 0 });
    expect(small.maxWalltime).toBe('01:00:00');
    expect(debug.freeCores).toBeGreaterThanOrEqual(0);
    expect(debug.freeMemoryMb).toBeGreaterThan(0);
    expect(debug.nodesIdle + debug.nodesMixed).toBe(1);

    // accounting_storage/none: sacctmgr cannot answer, so the admin list is offered and the form says so.
    const o = opts({ accounts: { fromSacctmgr: true, fallback: ['proj1'] } });
    expect(await userAccounts(o, 'alice')).toBeNull();
    const account = slurmOptionsForm(o, { name: 'alice', admin: false, groups: [] })!.fields.find((f) => f.name === 'account')!;
    expect(account.choices!.map((c) => c.value)).toEqual(['proj1']);
    expect(account.help).toMatch(/offered by the site/);

    await slurm.client('scontrol', ['create', 'reservation', 'ReservationName=atriumres', 'Users=root', 'StartTime=now', 'Duration=60', `Nodes=${slurm.nodeName}`, 'Flags=IGNORE_JOBS']);
    try {
      expect((await userReservations(o, 'root', [], [])).map((r) => r.name)).toEqual(['atriumres']);
      expect(await userReservations(o, 'bob', [], [])).toEqual([]);
      // A reservation the user may not use is refused at start, before anything is submitted.
      const s = make('bob', o);
      const err = await begin(s, 'bob', { reservation: 'atriumres' }).started.then(() => null, (e: Error) => e);
      expect(err?.message).toMatch(/reservation: "atriumres" is not an active reservation you may use/);
      expect(s.state()).toEqual({});
    } finally {
      await slurm.client('scontrol', ['delete', 'ReservationName=atriumres']).catch(() => undefined);
    }
  }, 60_000);

  it('20 servers, one squeue call per poll cycle', async () => {
    const counter = countingSqueue(home);
    const o = opts({ commands: { ...opts().commands, squeue: counter.path } });
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) {
      ids.push((await slurm.client('sbatch', ['--parsable', '-p', 'debug', '--mem=10M', `--chdir=${home}`, '-o', '/dev/null', '--wrap', 'sleep 300'])).trim());
    }
    try {
      const many = ids.map((id, i) => {
        const s = make(`sl20u${i}`, o);
        s.restore({ jobId: id });
        return s;
      });
      expect((await Promise.all(many.map((s) => s.poll()))).every((r) => r === null)).toBe(true);
      const poller = pollerFor(o);
      await poller.nextCycle();
      counter.reset();
      let hammering = true;
      const hammer = (async () => {
        while (hammering) {
          await Promise.all(many.map((s) => s.poll()));
          await new Promise((r) => setTimeout(r, 50));
        }
      })();
      for (let c = 0; c < 3; c++) await poller.nextCycle();
      hammering = false;
      await hammer;
      // Three cycles, three calls, whatever the 20 spawners asked in between.
      expect(counter.count()).toBe(3);
      for (const s of many) await s.stop();
    } finally {
      await slurm.client('scancel', ids).catch(() => undefined);
    }
  }, 120_000);

  it('the controller stopped for ~20 s: poll() stays null (unknown), the server is kept', async () => {
    const name = user('c');
    const o = opts();
    const s = make(name, o);
    const { started, env } = begin(s, name);
    const { url } = await started;
    await slurm.stopController();
    try {
      const end = Date.now() + 20_000;
      while (Date.now() < end) {
        expect(await s.poll()).toBeNull();
        await new Promise((r) => setTimeout(r, 1000));
      }
      expect(await waitForHttp(`${url}${env.JUPYTERHUB_SERVICE_PREFIX}api/status`, 5000)).toBe(200);
    } finally {
      await slurm.startController();
    }
    await pollerFor(o).refresh();
    expect(await s.poll()).toBeNull();
    // restore re-attaches a running job after a "hub restart": a new poller, a new instance.
    const state = JSON.parse(JSON.stringify(s.state()));
    closeSlurmPollers();
    const again = make(name, o);
    again.restore(state);
    expect(await again.poll()).toBeNull();
    await again.stop();
    expect(await s.poll()).not.toBeNull();
  }, 120_000);
});
