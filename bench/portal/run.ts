/**
 * Portal benchmark: what live job pages cost the Slurm controller and the hub, against a real
 * Slurm (test/services/slurm.ts) and the real hub (in this process, test/hub/harness.ts).
 *
 * J portal jobs (submitted through POST /hub/api/jobs, held in the queue with `#SBATCH --hold`
 * so 500 of them cost no processes on the 2-core test machine) and P open job pages, each one
 * Server-Sent-Events stream (/hub/api/jobs/events), for WINDOW seconds with the shared poller
 * every INTERVAL seconds:
 *
 * 1. Atrium: one `squeue` per cycle for every job, pages fed by SSE. Counted: squeue calls,
 *    slurmctld CPU, this process's CPU (hub + poller + its squeue children), events delivered.
 * 2. The anchor, Open OnDemand's way: every page polls by itself, one `squeue -u USER` per page per
 *    INTERVAL (staggered), same pages, same window, same counting wrapper; the hub's poller idle.
 *
 *   npx tsx bench/portal/run.ts [J=500] [P=100] [WINDOW=60] [INTERVAL=10]
 */
import { execFile } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { closeSlurmPollers } from '../../src/spawners/slurm/index.js';
import { startSlurm } from '../../test/services/slurm.js';
import { startTestHub } from '../../test/hub/harness.js';
import { countingSqueue, tempHome } from '../../test/spawners/slurm-fixture.js';

const J = Number(process.argv[2] ?? 500);
const P = Number(process.argv[3] ?? 100);
const WINDOW_S = Number(process.argv[4] ?? 60);
const INTERVAL_S = Number(process.argv[5] ?? 10);
const USERS = Math.min(P, 100);
const exec = promisify(execFile);

function procCpuMs(pid: number | 'self', children = false): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const v = f.slice(f.lastIndexOf(')') + 2).split(' ').map(Number);
  // fields 14-17 (utime stime cutime cstime) are at 11-14 after the ')' split
  return ((v[11]! + v[12]! + (children ? v[13]! + v[14]! : 0)) * 1000) / 100;
}

async function main() {
  const slurm = await startSlurm();
  const ctldPid = Number(readFileSync(join(slurm.dir, 'slurmctld.pid'), 'utf8'));
  const home = tempHome();
  const squeue = countingSqueue(home);
  const th = await startTestHub({
    spawner: {
      kind: 'slurm',
      slurm: {
        runAs: 'hub',
        clientEnvironment: slurm.env,
        path: process.env.PATH,
        homeDir: home,
        commands: { squeue: squeue.path },
        partitions: [{ name: 'debug', defaultMemory: '50M', defaultWalltime: '30' }],
        poll: { intervalSeconds: INTERVAL_S, startIntervalSeconds: 1, jitter: 0.1 },
      },
    },
    jobs: { enabled: true },
  });
  const users = Array.from({ length: USERS }, (_, i) => `p${i}`);
  const tokens = users.map((u) => th.token(u));
  try {
    // 1. J held jobs through the API, 8 at a time.
    const t0 = Date.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < J) {
          const i = next++;
          const r = await th.api('POST', '/jobs', { token: tokens[i % USERS], body: { script: '#!/bin/bash\n#SBATCH --hold\n#SBATCH --time=5\n#SBATCH --mem=10M\ntrue\n', name: `b${i}` } });
          if (r.status !== 201) throw new Error(`submit ${i}: ${r.status} ${await r.text()}`);
          await r.arrayBuffer();
        }
      }),
    );
    console.log(`submitted ${J} held jobs through the API in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    // 2. P pages, each one SSE stream.
    const ctl = new AbortController();
    let events = 0;
    const streams = Array.from({ length: P }, (_, i) =>
      fetch(`${th.url}/hub/api/jobs/events`, { headers: { Authorization: `token ${tokens[i % USERS]}` }, signal: ctl.signal })
        .then(async (res) => {
          const reader = res.body!.getReader();
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            events += (new TextDecoder().decode(value).match(/^event: /gm) ?? []).length;
          }
        })
        .catch(() => undefined),
    );
    await new Promise((r) => setTimeout(r, 2000));
    // Some change for the pages to hear: release a few jobs' holds (they run `true` and finish).
    const firstIds = (await (await th.api('GET', '/jobs?state=active&limit=10', { token: th.token('admin') })).json()) as { id: string }[];
    squeue.reset();
    let own = procCpuMs('self', true);
    let ctld = procCpuMs(ctldPid);
    await exec('scontrol', ['release', firstIds.map((j) => j.id).join(',')], { env: { ...process.env, ...slurm.env } });
    await new Promise((r) => setTimeout(r, WINDOW_S * 1000));
    const atrium = {
      squeueCalls: squeue.count(),
      slurmctldCpuMs: procCpuMs(ctldPid) - ctld,
      benchProcessCpuMs: procCpuMs('self', true) - own,
      sseEvents: events,
    };
    ctl.abort();
    await Promise.all(streams);

    // 3. Anchor: each page polls squeue for its user's jobs every INTERVAL, staggered (OOD's
    //    "your jobs" view is `squeue -u USER`; all bench jobs run as one system user here, so
    //    each page asks for its portal user's job ids instead, the same rows OOD would list).
    const idsOf = new Map<number, string>();
    for (let u = 0; u < USERS; u++) {
      const mine = (await (await th.api('GET', '/jobs?limit=200', { token: tokens[u] })).json()) as { id: string }[];
      idsOf.set(u, mine.map((j) => j.id).join(','));
    }
    squeue.reset();
    own = procCpuMs('self', true);
    ctld = procCpuMs(ctldPid);
    const end = Date.now() + WINDOW_S * 1000;
    const env = { ...process.env, ...slurm.env };
    await Promise.all(
      Array.from({ length: P }, async (_, i) => {
        await new Promise((r) => setTimeout(r, (i / P) * INTERVAL_S * 1000));
        while (Date.now() < end) {
          await exec(squeue.path, ['-h', '--states=all', `--jobs=${idsOf.get(i % USERS)}`, '-o', '%i|%T|%r|%N|%M|%L'], { env, maxBuffer: 1 << 24 }).catch(() => undefined);
          await new Promise((r) => setTimeout(r, INTERVAL_S * 1000));
        }
      }),
    );
    const ood = { squeueCalls: squeue.count(), slurmctldCpuMs: procCpuMs(ctldPid) - ctld, benchProcessCpuMs: procCpuMs('self', true) - own };
    const ratio = (a: number, b: number) => (a === 0 ? (b === 0 ? 1 : Infinity) : +(b / a).toFixed(1));
    console.log(JSON.stringify({
      jobs: J, pages: P, windowSeconds: WINDOW_S, intervalSeconds: INTERVAL_S,
      atrium, oodPerPagePolling: ood,
      oodOverAtrium: {
        squeueCalls: ratio(atrium.squeueCalls, ood.squeueCalls),
        slurmctldCpu: ratio(atrium.slurmctldCpuMs, ood.slurmctldCpuMs),
        clientSideCpu: ratio(atrium.benchProcessCpuMs, ood.benchProcessCpuMs),
      },
    }, null, 2));
  } finally {
    await th.teardown();
    closeSlurmPollers();
    await slurm.stop();
    rmSync(home, { recursive: true, force: true });
  }
}

await main();
