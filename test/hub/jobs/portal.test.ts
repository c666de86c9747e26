/**
 * HPC portal batch jobs against a real Slurm (slurmctld + slurmd + munge, test/services/slurm.ts)
 * and the real hub: submit from a template and from a script (API and Chromium), watch the job
 * run and finish from the one shared squeue poller (counted), read its output, cancel a queued
 * job, and check that one user can neither see, cancel nor read another's job (API and pages).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser as Chromium } from 'playwright-core';
import { closeSlurmPollers } from '../../../src/spawners/slurm/index.js';
import { startSlurm, type Slurm } from '../../services/slurm.js';
import { Browser, STUB_NODE, startTestHub, waitFor, type TestHub } from '../harness.js';
import { countingSqueue, tempHome } from '../../spawners/slurm-fixture.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'];

let slurm: Slurm;
let th: TestHub;
let home = '';
let tmp = '';
let squeue: ReturnType<typeof countingSqueue>;

type Job = { id: string; state: string; reason: string | null; exit_code: string | null; active: boolean; node_list: string | null; stdout: string | null; user: string };

beforeAll(async () => {
  slurm = await startSlurm();
  home = tempHome();
  tmp = mkdtempSync(join(tmpdir(), 'atrium-portal-'));
  squeue = countingSqueue(tmp);
  th = await startTestHub({
    spawner: {
      kind: 'slurm',
      slowSpawnTimeoutSeconds: 0,
      slurm: {
        runAs: 'hub',
        clientEnvironment: slurm.env,
        path: process.env.PATH,
        homeDir: home,
        commands: { squeue: squeue.path },
        // Sessions (for My work and session notifications): the node stub under the port wrapper.
        python: '/usr/bin/python3',
        cmd: [process.execPath, STUB_NODE],
        srun: '',
        bindAddress: '127.0.0.1',
        partitions: [{ name: 'debug', defaultMemory: '50M', defaultWalltime: '30' }],
        poll: { intervalSeconds: 1, startIntervalSeconds: 0.5, jitter: 0.1 },
      },
    },
    jobs: {
      enabled: true,
      templates: [
        {
          name: 'hello',
          title: 'Hello run',
          description: 'Prints a greeting n times',
          fields: [
            { name: 'n', label: 'Times', type: 'number', min: 1, max: 5, default: 2 },
            { name: 'partition', label: 'Partition', type: 'select', choices: ['debug', 'small'], default: 'debug' },
            { name: 'code', label: 'Exit code', type: 'number', min: 0, max: 9, default: 0 },
          ],
          script: '#!/bin/bash\n#SBATCH --partition={partition}\n#SBATCH --mem=20M\n#SBATCH --time=5\nfor i in $(seq {n}); do echo "hello $i from {username}"; done\necho oops >&2\nsleep 1\nexit {code}\n',
        },
      ],
    },
  });
}, 180_000);

afterAll(async () => {
  await th?.teardown();
  closeSlurmPollers();
  await slurm?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
  if (tmp) rmSync(tmp, { recursive: true, force: true });
}, 120_000);

async function json<T>(res: Response): Promise<T> {
  return (await res.json()) as T;
}

async function jobOf(token: string, id: string): Promise<Job> {
  return json<Job>(await th.api('GET', `/jobs/${id}`, { token }));
}

describe('portal jobs (REST API, real Slurm)', () => {
  it('a template job runs and finishes with its exit code and output; a failing one says so; bad values are 400', async () => {
    const token = th.token('alice');
    const events: string[] = [];
    const ctl = new AbortController();
    const es = fetch(`${th.url}/hub/api/jobs/events`, { headers: { Authorization: `token ${token}` }, signal: ctl.signal }).then(async (res) => {
      const reader = res.body!.getReader();
      const dec = new TextDecoder();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        events.push(dec.decode(value));
      }
    }).catch(() => undefined);

    const res = await th.api('POST', '/jobs', { token, body: { template: 'hello', params: { n: 3 } } });
    expect(res.status).toBe(201);
    const job = await json<Job & { script: string }>(res);
    expect(job.script).toContain('for i in $(seq 3)');
    expect(job.script).toContain(`from alice"`);
    const done = await waitFor(async () => {
      const j = await jobOf(token, job.id);
      return j.active ? null : j;
    }, 60_000, 300);
    expect(done).toMatchObject({ state: 'COMPLETED', exit_code: '0:0', node_list: slurm.nodeName });
    const out = await json<{ text: string; size: number; next_offset: number }>(await th.api('GET', `/jobs/${job.id}/output`, { token }));
    // No --error in the script: Slurm writes both streams to the one file.
    expect(out.text).toBe('hello 1 from alice\nhello 2 from alice\nhello 3 from alice\noops\n');
    // Following: from an offset only what came after.
    const tail = await json<{ text: string }>(await th.api('GET', `/jobs/${job.id}/output?offset=${out.size - 24}`, { token }));
    expect(tail.text).toBe('hello 3 from alice\noops\n');
    const err = await json<{ text: string }>(await th.api('GET', `/jobs/${job.id}/output?stream=stderr`, { token }));
    expect(err.text).toContain('oops');
    // The page's event stream told the story, from the shared poller.
    await waitFor(() => events.join('').includes('"what":"finished"'), 10_000, 100);
    const text = events.join('');
    expect(text).toMatch(/event: job\ndata: \{"what":"submitted"/);
    expect(text).toMatch(/"what":"finished","user":"alice","message":"Job \d+ \(hello\) finished, exit code 0:0"/);
    ctl.abort();
    await es;

    // Every event has an id; a stream opened after one replays what came later (a page rendered
    // before an event and connected after it), a reconnect's Last-Event-ID does the same.
    const ids = [...text.matchAll(/id: ([0-9a-f]{8}-\d+)\nevent: job\ndata: \{"what":"(\w+)"/g)].map((m) => ({ id: m[1]!, what: m[2]! }));
    const submitted = ids.find((e) => e.what === 'submitted')!;
    const finished = ids.find((e) => e.what === 'finished')!;
    expect(submitted && finished).toBeTruthy();
    const replay = async (url: string, headers: Record<string, string> = {}) => {
      const c = new AbortController();
      const r = await fetch(`${th.url}/hub/api/jobs/events${url}`, { headers: { Authorization: `token ${token}`, ...headers }, signal: c.signal });
      expect(r.status).toBe(200);
      const reader = r.body!.getReader();
      let got = '';
      // The replay is written before any live event: read until a pause.
      for (;;) {
        const next = await Promise.race([reader.read(), new Promise<null>((ok) => setTimeout(() => ok(null), 500))]);
        if (!next || next.done) break;
        got += new TextDecoder().decode(next.value);
      }
      c.abort();
      return got;
    };
    const after = await replay(`?after=${submitted.id}`);
    expect(after).toContain(`id: ${finished.id}\nevent: job\ndata: {"what":"finished"`);
    expect(after).not.toContain('"what":"submitted"');
    expect(await replay('', { 'Last-Event-ID': finished.id })).not.toContain('event: job');
    // A cursor of another hub start (or one older than what is kept): the page re-reads its rows.
    expect(await replay('?after=00000000-1')).toContain('event: resync');
    const badCursor = await fetch(`${th.url}/hub/api/jobs/events?after=..%2F1`, { headers: { Authorization: `token ${token}` } });
    expect(badCursor.status).toBe(400);
    expect(((await badCursor.json()) as { message: string }).message).toMatch(/after must be an event id/);

    const bad = await th.api('POST', '/jobs', { token, body: { template: 'hello', params: { code: 3 } } });
    const failing = await json<Job>(bad);
    const failed = await waitFor(async () => {
      const j = await jobOf(token, failing.id);
      return j.active ? null : j;
    }, 60_000, 300);
    expect(failed).toMatchObject({ state: 'FAILED', exit_code: '3:0' });

    for (const [body, msg] of [
      [{ template: 'hello', params: { n: 6 } }, /n: must be at most 5/],
      [{ template: 'hello', params: { n: '1; rm -rf /' } }, /n: must be a whole number/],
      [{ template: 'hello', params: { partition: 'gpu' } }, /partition: "gpu" is not one of debug, small/],
      [{ template: 'hello', params: { username: 'root' } }, /unknown field\(s\) for template hello: username/],
      [{ template: 'nope' }, /No job template named "nope"/],
      [{ script: 'echo no shebang' }, /must start with a #! line/],
      [{ script: '#!/bin/bash\n#SBATCH --partition=nosuch\ntrue\n' }, /Slurm refused the job: .*(invalid partition|Invalid partition)/i],
    ] as const) {
      const r = await th.api('POST', '/jobs', { token, body });
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect((await json<{ message: string }>(r)).message).toMatch(msg);
    }
  }, 180_000);

  it('a queued job shows its reason and can be cancelled; cancelling again is 409', async () => {
    const token = th.token('carol');
    // Fill `small` (one CPU, no oversubscription) so the next job there waits.
    const blocker = (await slurm.client('sbatch', ['--parsable', '-p', 'small', '--mem=20M', `--chdir=${home}`, '-o', '/dev/null', '--wrap', 'sleep 300'])).trim();
    try {
      await waitFor(async () => (await slurm.client('squeue', ['-h', '-j', blocker, '-o', '%T'])).trim() === 'RUNNING', 30_000, 200);
      const job = await json<Job>(await th.api('POST', '/jobs', { token, body: { template: 'hello', params: { partition: 'small' } } }));
      const queued = await waitFor(async () => {
        const j = await jobOf(token, job.id);
        return j.state === 'PENDING' && j.reason ? j : null;
      }, 30_000, 200);
      expect(queued.reason).toMatch(/Resources|Priority/);
      expect((await th.api('DELETE', `/jobs/${job.id}`, { token })).status).toBe(204);
      const gone = await waitFor(async () => {
        const j = await jobOf(token, job.id);
        return j.active ? null : j;
      }, 30_000, 200);
      expect(gone.state).toBe('CANCELLED');
      const again = await th.api('DELETE', `/jobs/${job.id}`, { token });
      expect(again.status).toBe(409);
    } finally {
      await slurm.client('scancel', [blocker]).catch(() => undefined);
    }
  }, 120_000);

  it('another user cannot see, cancel or read a job (API and pages); admins can see it; tokens without jobs scopes get 403', async () => {
    const alice = th.token('alice2');
    const bob = th.token('bob');
    const admin = th.token('admin');
    const job = await json<Job>(await th.api('POST', '/jobs', { token: alice, body: { script: '#!/bin/bash\n#SBATCH --time=5\n#SBATCH --mem=20M\necho secret-of-alice\nsleep 20\n', name: 'private' } }));
    expect(job.id).toMatch(/^\d+$/);
    for (const [method, path] of [['GET', `/jobs/${job.id}`], ['DELETE', `/jobs/${job.id}`], ['GET', `/jobs/${job.id}/output`]] as const) {
      const r = await th.api(method, path, { token: bob });
      expect(r.status, `${method} ${path}`).toBe(404);
      expect(await r.text()).not.toContain('secret-of-alice');
    }
    const bobs = await json<Job[]>(await th.api('GET', '/jobs', { token: bob }));
    expect(bobs.find((j) => j.id === job.id)).toBeUndefined();
    expect((await th.api('GET', `/jobs?user=alice2`, { token: bob })).status).toBe(404);
    // Pages: bob logged in gets 404 for alice's job page and cannot cancel it by form.
    const b = new Browser(th.url);
    await b.login('bob');
    const pageRes = (await b.follow(`/hub/jobs/${job.id}`)).res;
    expect(pageRes.status).toBe(404);
    expect(await pageRes.text()).not.toContain('secret-of-alice');
    const list = await (await b.follow('/hub/jobs')).res.text();
    const xsrf = /name="_xsrf" value="([^"]+)"/.exec(list)![1]!;
    const cancel = await b.request('POST', `/hub/jobs/${job.id}/cancel`, { body: new URLSearchParams({ _xsrf: xsrf }).toString(), headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
    expect(cancel.status).toBe(404);
    // A cancel form without the XSRF token is refused before anything happens.
    const noXsrf = await b.request('POST', `/hub/jobs/${job.id}/cancel`, { body: '', headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
    expect(noXsrf.status).toBe(403);
    expect((await jobOf(alice, job.id)).active).toBe(true);
    // The API with bob's login cookie (same-origin Referer): a POST needs the page's XSRF token.
    const api = (headers: Record<string, string>) =>
      b.request('POST', '/hub/api/jobs', { body: JSON.stringify({ script: '#!/bin/bash\n#SBATCH --time=1\n#SBATCH --mem=10M\ntrue\n' }), headers: { 'Content-Type': 'application/json', Referer: `${th.url}/hub/jobs`, ...headers } });
    const noToken = await api({});
    expect(noToken.status).toBe(403);
    expect(await noToken.text()).toMatch(/XSRF/);
    expect((await api({ 'X-XSRFToken': xsrf })).status).toBe(201);
    // The admin sees it; a token of alice's without job scopes does not.
    expect((await th.api('GET', `/jobs/${job.id}`, { token: admin })).status).toBe(200);
    const all = await json<Job[]>(await th.api('GET', '/jobs', { token: admin }));
    expect(all.find((j) => j.id === job.id)?.user).toBe('alice2');
    const narrow = th.token('alice2', ['read:users!user']);
    expect((await th.api('GET', `/jobs/${job.id}`, { token: narrow })).status).toBe(403);
    expect((await th.api('DELETE', `/jobs/${job.id}`, { token: alice })).status).toBe(204);
  }, 120_000);

  it('one squeue per poll cycle covers every job (and session) of the hub', async () => {
    const token = th.token('dave');
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      ids.push((await json<Job>(await th.api('POST', '/jobs', { token, body: { script: '#!/bin/bash\n#SBATCH --time=5\n#SBATCH --mem=10M\nsleep 8\n', name: `w${i}` } }))).id);
    }
    await waitFor(async () => (await Promise.all(ids.map((id) => jobOf(token, id)))).every((j) => j.state === 'RUNNING'), 30_000, 300);
    squeue.reset();
    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, 5000));
    const calls = squeue.count();
    const seconds = (Date.now() - t0) / 1000;
    console.log(`[measure] ${ids.length} running portal jobs, poll interval 1 s: ${calls} squeue calls in ${seconds.toFixed(1)} s`);
    // One per cycle (interval 1 s ± 10 %), not one per job (that would be ≥ 30).
    expect(calls).toBeGreaterThanOrEqual(3);
    expect(calls).toBeLessThanOrEqual(8);
    for (const id of ids) await th.api('DELETE', `/jobs/${id}`, { token });
  }, 120_000);
});

describe.skipIf(!existsSync(CHROMIUM))('portal jobs in Chromium', () => {
  let browser: Chromium;
  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, timeout: 60_000 });
  }, 60_000);
  afterAll(async () => {
    await browser?.close().catch(() => undefined);
  });

  it('submit from a template, watch it run and finish live, read its output; My work lists it while it runs', async () => {
    const ctx = await browser.newContext();
    try {
      const page = await ctx.newPage();
      await page.goto(`${th.url}/hub/login?next=${encodeURIComponent('/hub/jobs')}`);
      await page.fill('input[name=username]', 'erin');
      await page.fill('input[name=password]', 'pw');
      await Promise.all([page.waitForURL(/\/hub\/jobs$/), page.click('button[type=submit]')]);
      const form = page.locator('form[data-template=hello]');
      await form.locator('input[name=p_n]').fill('4');
      await Promise.all([page.waitForURL(/\/hub\/jobs\/\d+$/), form.locator('button[type=submit]').click()]);
      const id = /\/hub\/jobs\/(\d+)$/.exec(page.url())![1]!;
      // Live: the state cell changes without a reload (SSE from the poller), a toast says so.
      await page.locator(`tr[data-job="${id}"] [data-f=state]`).filter({ hasText: 'COMPLETED' }).waitFor({ timeout: 60_000 });
      await page.locator('#toasts .toast').filter({ hasText: `Job ${id} (hello) finished` }).waitFor({ timeout: 10_000 });
      await page.locator('#out-stdout').filter({ hasText: 'hello 4 from erin' }).waitFor({ timeout: 15_000 });
      expect(await page.locator(`tr[data-job="${id}"] [data-f=exit_code]`).textContent()).toBe('0:0');

      // Resubmit with changes: the form is prefilled with n=4; a long one shows on My work.
      const again = page.locator('form[data-template=hello]');
      expect(await again.locator('input[name=p_n]').inputValue()).toBe('4');
      await page.goto(`${th.url}/hub/jobs`);
      await page.fill('#job-script', '#!/bin/bash\n#SBATCH --time=5\n#SBATCH --mem=10M\necho long; sleep 60\n');
      await page.fill('#job-name', 'long');
      await Promise.all([page.waitForURL(/\/hub\/jobs\/\d+$/), page.click('#script-form button[type=submit]')]);
      const longId = /\/hub\/jobs\/(\d+)$/.exec(page.url())![1]!;
      await page.goto(`${th.url}/hub/my-work`);
      const row = page.locator(`tr[data-job="${longId}"]`);
      await row.waitFor();
      await Promise.all([page.waitForURL(new RegExp(`/hub/jobs/${longId}$`)), row.locator('button.danger').click()]);
      await page.locator(`tr[data-job="${longId}"] [data-f=state]`).filter({ hasText: 'CANCELLED' }).waitFor({ timeout: 60_000 }).catch(async (err: Error) => {
        // Say what the hub and the page knew when the cancel did not show.
        const api = await (await th.api('GET', `/jobs/${longId}`, { token: th.token('erin') })).text();
        const cell = await page.locator(`tr[data-job="${longId}"] [data-f=state]`).textContent().catch(() => '?');
        throw new Error(`${err.message}\nAPI: ${api}\npage state cell: ${cell}`);
      });

      // Sessions on My work: a session started elsewhere (the API) shows as a toast here, then
      // the page lists it with its URL and time left; Stop ends it and that shows too.
      await page.goto(`${th.url}/hub/my-work`);
      await page.locator('text=No session running').waitFor();
      expect((await th.api('POST', '/users/erin/server', { token: th.token('erin') })).status).toBeLessThan(300);
      // The session is a Slurm job: it may wait for the CPUs of jobs just cancelled (COMPLETING).
      await page.locator('#toasts .toast').filter({ hasText: 'Your session is ready' }).waitFor({ timeout: 120_000 }).catch(async (err: Error) => {
        // Say what the hub and Slurm knew when the toast did not show.
        const phase = th.running.hub.spawns.get('erin', '')?.phase ?? 'none';
        const queue = await slurm.client('squeue', ['-h', '-o', '%i %T %r %j']).catch((e: Error) => e.message);
        const toasts = await page.locator('#toasts').textContent().catch(() => '?');
        throw new Error(`${err.message}\nsession phase: ${phase}\nsqueue: ${queue}\ntoasts: ${toasts}`);
      });
      const session = page.locator('tr[data-session=""]');
      await session.waitFor({ timeout: 10_000 });
      expect(await session.locator('a').textContent()).toBe('/user/erin/');
      await session.locator('[data-ends]').filter({ hasText: /\d+ h \d+ min left/ }).waitFor({ timeout: 10_000 });
      await session.locator('button.danger').click();
      await page.waitForURL(/\/hub\//);
      await waitFor(async () => !(await (await th.api('GET', '/users/erin', { token: th.token('erin') })).json() as { servers: Record<string, unknown> }).servers[''], 30_000, 300);
    } finally {
      await ctx.close();
    }
  }, 300_000);
});
