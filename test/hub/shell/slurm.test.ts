/**
 * The web shell into a Slurm session: the real jupyterhub-singleuser runs as a job on the real
 * Slurm (test/services/slurm.ts); the shell is `srun --jobid … --overlap --pty bash -l`, so it runs
 * inside that job's allocation (SLURM_JOB_ID is the server's job), without the server's token.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeSlurmPollers } from '../../../src/spawners/slurm/index.js';
import { startSlurm, type Slurm } from '../../services/slurm.js';
import { tempHome } from '../../spawners/slurm-fixture.js';
import { Browser, startTestHub, waitFor, type TestHub } from '../harness.js';
import { openShell, shellPage } from './shell-client.js';

describe('web shell into a Slurm session', () => {
  let slurm: Slurm;
  let th: TestHub;

  beforeAll(async () => {
    slurm = await startSlurm();
    th = await startTestHub({
      shell: { enabled: true },
      // For the My work page (its Shell link); no batch job is submitted here.
      jobs: { enabled: true },
      spawner: {
        kind: 'slurm',
        startTimeoutSeconds: 90,
        httpTimeoutSeconds: 60,
        slurm: {
          runAs: 'hub',
          clientEnvironment: slurm.env,
          homeDir: tempHome(),
          python: '/usr/bin/python3',
          cmd: ['jupyterhub-singleuser', '--allow-root'],
          bindAddress: '127.0.0.1',
          partitions: [{ name: 'debug', defaultMemory: '1G', defaultWalltime: '30', maxCores: 2 }],
          poll: { intervalSeconds: 2, startIntervalSeconds: 0.5 },
          stopTimeoutSeconds: 5,
        },
      },
    });
    th.token('alice');
    const r = await th.api('POST', '/users/alice/server', { token: th.token('admin') });
    expect(r.status).toBeLessThan(300);
    await waitFor(() => th.running.hub.spawns.get('alice', '')?.phase === 'running', 120_000, 250);
  }, 180_000);

  afterAll(async () => {
    await th?.teardown();
    closeSlurmPollers();
    await slurm?.stop();
  }, 120_000);

  it('My work shows a Shell link beside the running session', async () => {
    const b = new Browser(th.url);
    await b.login('alice');
    const html = await (await b.request('GET', '/hub/my-work')).text();
    expect(html).toMatch(/<tr data-session="">.*<a class="button" data-shell="" href="\/hub\/shell\/alice">Shell<\/a>/s);
  }, 30_000);

  it('opens a shell inside the server\'s job with srun --pty: 42, the job id, no token, resize', async () => {
    const jobId = String((JSON.parse(th.running.hub.stores.servers.get(th.running.hub.stores.users.get('alice')!.id, '')!.state) as { jobId: string }).jobId);
    const b = new Browser(th.url);
    await b.login('alice');
    const { xsrf, socket } = await shellPage(b, '/hub/shell/alice');
    const r = await openShell(b, socket, { xsrf, cols: 100, rows: 30 });
    if (!r.ok) throw new Error(`refused: ${r.status} ${JSON.stringify(r.body)}`);
    const c = r.conn;
    try {
      c.input('echo "answer=$((6*7)) job=$SLURM_JOB_ID token=${JUPYTERHUB_API_TOKEN:-none} size=$(stty size) ✓"\r');
      await c.waitFor(new RegExp(`[\\r\\n]answer=42 job=${jobId} token=none size=30 100 ✓\\r?\\n`), 30_000);
      c.ws.send(JSON.stringify({ type: 'resize', cols: 111, rows: 33 }));
      c.input('stty size\r');
      await c.waitFor(/[\r\n]33 111\r?\n/);
      c.input('exit\r');
      expect((await c.closed).code).toBe(1000);
    } finally {
      c.ws.terminate();
    }
    // The server's job is untouched by the shell's end.
    expect(await th.running.hub.spawns.get('alice', '')?.spawner?.poll()).toBeNull();
  }, 90_000);
});
