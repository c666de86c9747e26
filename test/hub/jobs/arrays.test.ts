/**
 * Slurm job arrays in the portal against a real Slurm (test/services/slurm.ts) and the real hub:
 * a 4-task array submitted with the array field runs from the one shared squeue poller (squeue -r
 * lists its tasks), shows as one job with per-task states and counts, each task's output and
 * error files are readable (the %A_%a paths), a queued task is cancelled on its own, the array
 * spec is checked before sbatch, and another user can neither see, cancel nor read it.
 */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeSlurmPollers } from '../../../src/spawners/slurm/index.js';
import { startSlurm, type Slurm } from '../../services/slurm.js';
import { Browser, STUB_NODE, startTestHub, waitFor, type TestHub } from '../harness.js';
import { tempHome } from '../../spawners/slurm-fixture.js';

let slurm: Slurm;
let th: TestHub;
let home = '';

type Task = { id: number; state: string; status: string; exit_code: string | null };
type ArrayJob = { id: string; state: string; active: boolean; script: string; array: { spec: string; counts: Record<string, number>; tasks: Task[] } | null };

beforeAll(async () => {
  slurm = await startSlurm();
  home = tempHome();
  th = await startTestHub({
    spawner: {
      kind: 'slurm',
      slowSpawnTimeoutSeconds: 0,
      slurm: {
        runAs: 'hub',
        clientEnvironment: slurm.env,
        path: process.env.PATH,
        homeDir: home,
        python: '/usr/bin/python3',
        cmd: [process.execPath, STUB_NODE],
        srun: '',
        bindAddress: '127.0.0.1',
        partitions: [{ name: 'debug', defaultMemory: '50M', defaultWalltime: '30' }],
        poll: { intervalSeconds: 1, startIntervalSeconds: 0.5, jitter: 0.1 },
      },
    },
    jobs: { enabled: true, maxArrayTasks: 8 },
  });
}, 180_000);

afterAll(async () => {
  await th?.teardown();
  closeSlurmPollers();
  await slurm?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
}, 120_000);

const get = async (token: string, id: string) => (await th.api('GET', `/jobs/${id}`, { token }).then((r) => r.json())) as ArrayJob;

describe('job arrays (REST API, real Slurm)', () => {
  it('a 4-task array runs as one job with per-task states and outputs; one queued task is cancelled; others cannot touch it', async () => {
    const alice = th.token('alice');
    const bob = th.token('bob');
    // At most 3 tasks at once: task 3 waits in the queue until one of the others ends.
    const script = `#!/bin/bash\n#SBATCH --time=5\n#SBATCH --mem=20M\n#SBATCH --error=${home}/err-%A_%a.txt\necho "task $SLURM_ARRAY_TASK_ID of $SLURM_ARRAY_JOB_ID"\necho "oops $SLURM_ARRAY_TASK_ID" >&2\nsleep 4\n`;
    const res = await th.api('POST', '/jobs', { token: alice, body: { script, name: 'sweep', array: '0-3%3' } });
    expect(res.status).toBe(201);
    const job = (await res.json()) as ArrayJob;
    expect(job.script.split('\n')[1]).toBe('#SBATCH --array=0-3%3');
    expect(job.array).toMatchObject({ spec: '0-3%3', counts: { queued: 4, running: 0, done: 0, failed: 0, cancelled: 0 } });

    // Another user: not found, whatever they try.
    expect((await th.api('GET', `/jobs/${job.id}`, { token: bob })).status).toBe(404);
    expect((await th.api('DELETE', `/jobs/${job.id}?task=0`, { token: bob })).status).toBe(404);
    expect((await th.api('GET', `/jobs/${job.id}/output?task=0`, { token: bob })).status).toBe(404);
    const list = (await th.api('GET', '/jobs', { token: bob }).then((r) => r.json())) as { jobs?: ArrayJob[] } | ArrayJob[];
    expect(JSON.stringify(list)).not.toContain(`"${job.id}"`);

    // Cancel task 3 while it waits behind the %3 limit.
    expect((await th.api('DELETE', `/jobs/${job.id}?task=7`, { token: alice })).status).toBe(400);
    expect((await th.api('DELETE', `/jobs/${job.id}?task=3`, { token: alice })).status).toBe(204);

    // The poller shows tasks running at some point, then the array ends.
    const seenRunning = await waitFor(async () => ((await get(alice, job.id)).array!.counts.running > 0 ? true : null), 60_000, 200);
    expect(seenRunning).toBe(true);
    const done = await waitFor(async () => {
      const j = await get(alice, job.id);
      return j.active ? null : j;
    }, 90_000, 500);
    expect(done.array!.counts, JSON.stringify(done.array!.tasks)).toEqual({ queued: 0, running: 0, done: 3, failed: 0, cancelled: 1 });
    expect(done.array!.tasks.map((t) => [t.id, t.state])).toEqual([[0, 'COMPLETED'], [1, 'COMPLETED'], [2, 'COMPLETED'], [3, 'CANCELLED']]);
    expect(done.state).toBe('PARTLY_CANCELLED');

    // Each task's own output and error file.
    for (const t of [0, 1, 2]) {
      const out = (await th.api('GET', `/jobs/${job.id}/output?task=${t}`, { token: alice }).then((r) => r.json())) as { text: string; path: string };
      expect(out.text, JSON.stringify(out)).toBe(`task ${t} of ${job.id}\n`);
      expect(out.path).toBe(`${home}/slurm-${job.id}_${t}.out`);
      const err = (await th.api('GET', `/jobs/${job.id}/output?task=${t}&stream=stderr`, { token: alice }).then((r) => r.json())) as { text: string; path: string };
      expect(err).toMatchObject({ text: `oops ${t}\n`, path: `${home}/err-${job.id}_${t}.txt` });
    }
    // An array's output needs a task.
    const noTask = await th.api('GET', `/jobs/${job.id}/output`, { token: alice });
    expect(noTask.status).toBe(400);
    expect(((await noTask.json()) as { message: string }).message).toMatch(/is an array: say which task/);
    // Resubmit: the stored script carries the array line, so it is an array again.
    const again = await th.api('POST', '/jobs', { token: alice, body: { script: done.script, name: 'sweep' } });
    expect(again.status).toBe(201);
    const second = (await again.json()) as ArrayJob;
    expect(second.array?.spec).toBe('0-3%3');
    expect((await th.api('DELETE', `/jobs/${second.id}`, { token: alice })).status).toBe(204);
  }, 180_000);

  it('checks the array spec before sbatch: malformed, backwards, too many tasks, given twice', async () => {
    const alice = th.token('alice');
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ script: '#!/bin/bash\necho hi\n', array: '0-3%0' }, /at least 1/],
      [{ script: '#!/bin/bash\necho hi\n', array: '5-1' }, /runs backwards/],
      [{ script: '#!/bin/bash\necho hi\n', array: '0-99' }, /more than 8 tasks/],
      [{ script: '#!/bin/bash\necho hi\n', array: '1;rm' }, /is not an array spec/],
      [{ script: '#!/bin/bash\n#SBATCH --array=0-1\necho hi\n', array: '0-1' }, /not both/],
      [{ script: '#!/bin/bash\n#SBATCH -a 0-20\necho hi\n' }, /more than 8 tasks/],
    ];
    for (const [body, re] of cases) {
      const r = await th.api('POST', '/jobs', { token: alice, body: { name: 'bad', ...body } });
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(((await r.json()) as { message: string }).message).toMatch(re);
    }
  }, 60_000);

  it('pages: the array field submits an array, the job page has the task table and one task\'s output, a task is cancelled by form; another user gets 404', async () => {
    const b = new Browser(th.url);
    await b.login('alice');
    const jobs = await (await b.follow('/hub/jobs')).res.text();
    expect(jobs).toContain('id="job-array"');
    const xsrf = /name="_xsrf" value="([^"]+)"/.exec(jobs)![1]!;
    const form = { 'Content-Type': 'application/x-www-form-urlencoded' };
    const script = '#!/bin/bash\n#SBATCH --time=5\n#SBATCH --mem=20M\necho "page task $SLURM_ARRAY_TASK_ID"\nsleep 2\n';
    const sub = await b.request('POST', '/hub/jobs', { body: new URLSearchParams({ _xsrf: xsrf, name: 'paged', script, array: '0-2%1' }).toString(), headers: form });
    expect(sub.status).toBe(303);
    const id = /\/hub\/jobs\/(\d+)$/.exec(sub.headers.get('location') ?? '')![1]!;
    // Task 2 waits behind %1: cancel it with the task form of the page.
    const page = await (await b.follow(`/hub/jobs/${id}`)).res.text();
    expect(page).toContain('array 0-2%1: 3 queued');
    expect(page).toMatch(/<tr data-task="2">.*name="task" value="2"/s);
    const cancel = await b.request('POST', `/hub/jobs/${id}/cancel`, { body: new URLSearchParams({ _xsrf: xsrf, task: '2' }).toString(), headers: form });
    expect(cancel.status).toBe(303);
    const alice = th.token('alice');
    const done = await waitFor(async () => {
      const j = await get(alice, id);
      return j.active ? null : j;
    }, 90_000, 500);
    expect(done.array!.counts).toMatchObject({ done: 2, cancelled: 1 });
    const task1 = await (await b.follow(`/hub/jobs/${id}?task=1`)).res.text();
    expect(task1).toContain('Output of task 1');
    expect(task1).toContain(`output?task=1&stream=`);
    // Bob: not found, page and task page alike.
    const bob = new Browser(th.url);
    await bob.login('bob');
    expect((await bob.follow(`/hub/jobs/${id}`)).res.status).toBe(404);
    expect((await bob.follow(`/hub/jobs/${id}?task=1`)).res.status).toBe(404);
  }, 150_000);
});
