/**
 * The shared squeue poller's edge cases, which a healthy real controller answers too fast to show:
 * a job registered while a slow squeue is in flight, an unreachable controller, and squeue's
 * "Invalid job id" exit when every watched job has been purged. The squeue here is a named fake
 * (`slowSqueue`) for exactly those failure modes; the real-Slurm behaviour is in slurm.test.ts.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { afterAll, describe, expect, it } from 'vitest';
import { SlurmSpawnerOptions } from '../../src/spawners/slurm/options.js';
import { SlurmPoller } from '../../src/spawners/slurm/poller.js';

const dir = mkdtempSync(join(tmpdir(), 'atrium-poller-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A squeue that takes `delay` seconds and lists every asked-for job as RUNNING, or fails as told. */
function slowSqueue(name: string, delay: number, mode: 'ok' | 'down' | 'purged' = 'ok'): { path: string; calls(): string[] } {
  const log = join(dir, `${name}.log`);
  const path = join(dir, name);
  writeFileSync(log, '');
  const body = {
    ok: `for a in "$@"; do case "$a" in --jobs=*) ids="\${a#--jobs=}";; esac; done\nfor id in $(echo "$ids" | tr ',' ' '); do echo "$id|RUNNING|None|n1|N/A|N/A"; done`,
    down: 'echo "squeue: error: Unable to contact slurm controller (connect failure)" >&2; exit 1',
    purged: 'echo "slurm_load_jobs error: Invalid job id specified" >&2; exit 1',
  }[mode];
  writeFileSync(path, `#!/bin/sh\necho "$*" >> '${log}'\nsleep ${delay}\n${body}\n`);
  chmodSync(path, 0o755);
  return { path, calls: () => readFileSync(log, 'utf8').split('\n').filter(Boolean) };
}

const options = (squeue: string) =>
  Value.Default(SlurmSpawnerOptions, { commands: { squeue }, poll: { intervalSeconds: 60, startIntervalSeconds: 60, jitter: 0, maxBackoffSeconds: 60 } }) as SlurmSpawnerOptions;

describe('SlurmPoller', () => {
  it('a job registered while a cycle is in flight is never read from that cycle', async () => {
    const sq = slowSqueue('slow', 1);
    const p = new SlurmPoller(options(sq.path));
    try {
      p.watch('101', true);
      const first = p.refresh(); // in flight, asks about 101 only
      p.watch('102', true);
      const forNew = await p.snapshotFor('102');
      expect(forNew.covered.has('102')).toBe(true);
      expect(forNew.ok && forNew.jobs.get('102')?.state).toBe('RUNNING');
      expect((await first).covered.has('102')).toBe(false);
      const fresh = await p.fresh('101');
      expect(fresh.startedAt).toBeGreaterThanOrEqual(forNew.startedAt);
      expect(sq.calls().every((c) => c.includes('--jobs='))).toBe(true);
    } finally {
      p.close();
    }
  }, 20_000);

  it('an unreachable controller gives an unknown snapshot, not an empty one', async () => {
    const p = new SlurmPoller(options(slowSqueue('down', 0, 'down').path));
    try {
      p.watch('7', false);
      const snap = await p.snapshotFor('7');
      expect(snap.ok).toBe(false);
    } finally {
      p.close();
    }
  });

  it('"Invalid job id" (every watched job purged) is an answer: the jobs are gone', async () => {
    const p = new SlurmPoller(options(slowSqueue('purged', 0, 'purged').path));
    try {
      p.watch('8', false);
      const snap = await p.snapshotFor('8');
      expect(snap.ok).toBe(true);
      expect(snap.ok && snap.jobs.size).toBe(0);
      expect(snap.covered.has('8')).toBe(true);
    } finally {
      p.close();
    }
  });
});
