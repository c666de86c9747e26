/**
 * The per-node start queue survives a hub restart (issue 15, decision 0027), with the real hub
 * process, the real atrium-proxy and the real Docker Engine in Swarm mode (one node,
 * `startQueue.perNode: 1`): the hub is killed with SIGKILL while one user's server starts (its
 * service exists, the server is not answering yet). The restarted hub resumes that start instead
 * of removing the service, and counts it on its node from the engine's task list, so a second
 * user who clicks Start right after the restart waits in the queue until the first server is up —
 * never two starts on the node at once — and then starts too.
 */
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acquireDocker, docker, removeLeftovers, TEST_IMAGE, type DockerHandle } from '../services/docker.js';
import { hubProcess, type HubProcess } from './hub-process.js';
import { answersThroughProxy, restoreOfStart } from './crash-probe.js';
import { waitFor } from './harness.js';

const FIXTURES = resolve(import.meta.dirname, '../fixtures');
const hubId = `r${randomBytes(4).toString('hex')}`;
let handle: DockerHandle | undefined;
let h: HubProcess | null = null;

beforeAll(async () => {
  handle = await acquireDocker();
}, 300_000);
afterAll(async () => {
  await h?.teardown();
  await removeLeftovers(hubId, false).catch(() => undefined);
  await handle?.release();
}, 120_000);

type Model = { servers?: Record<string, { ready?: boolean; pending?: string | null; queue_position?: number | null }> };

/** Users whose service exists now (by the hub's labels, through the Docker CLI). */
async function withService(): Promise<string[]> {
  const out = await docker(['service', 'ls', '--filter', `label=atrium.hub=${hubId}`, '--format', '{{.Name}}']);
  return out.split('\n').filter(Boolean);
}

describe('per-node admission across a hub restart', () => {
  it('a start caught by kill -9 is resumed and counted on its node; a new start waits for it', async () => {
    h = await hubProcess({
      spawner: {
        kind: 'swarm',
        slowSpawnTimeoutSeconds: 1,
        startTimeoutSeconds: 120,
        startQueue: { enabled: true, perNode: 1, nodeRefreshSeconds: 5 },
        swarm: {
          hubId,
          images: [{ image: TEST_IMAGE, name: 'test' }],
          // A server that takes a while to answer: the kill lands while it starts.
          command: ['/bin/sh', '-c', 'sleep 12; exec python3 /opt/atrium-fixtures/stub-singleuser.py'],
          hostBindAddress: '127.0.0.1',
          stopTimeoutSeconds: 1,
          mounts: [{ type: 'bind', source: FIXTURES, target: '/opt/atrium-fixtures', readOnly: true }],
        },
      },
    });
    await h.start();
    const admin = h.token('admin');
    expect((await h.api('POST', '/users', { token: admin, body: { usernames: ['ra', 'rb'] } })).status).toBe(201);
    const model = async (u: string) => (await (await h!.api('GET', `/users/${u}`, { token: admin })).json()) as Model;

    const first = await h.api('POST', '/users/ra/server', { token: admin });
    expect(first.status).toBe(202);
    await waitFor(async () => (await withService()).some((n) => n.includes('-ra-')), 60_000, 100);
    await h.kill('SIGKILL');

    await h.start();
    const restore = await restoreOfStart(() => h!.output(), 2);
    expect(restore).toMatchObject({ stopped: 0, orphansStopped: 0 });
    expect((restore as unknown as { resumed: number }).resumed).toBe(1);
    expect((await model('ra')).servers?.['']?.pending).toBe('spawn');

    // rb clicks Start now: the node's one slot is taken by ra's inherited start.
    const second = h.api('POST', '/users/rb/server', { token: admin });
    await waitFor(async () => (await model('rb')).servers?.['']?.queue_position === 1, 20_000, 100);
    let overlap = false;
    await waitFor(async () => {
      const [a, b] = [await model('ra'), await model('rb')];
      const names = await withService();
      // rb's service must not exist while ra's server is still starting.
      if (names.some((n) => n.includes('-rb-')) && a.servers?.['']?.ready !== true) overlap = true;
      return a.servers?.['']?.ready === true && b.servers?.['']?.ready === true;
    }, 150_000, 250);
    expect(overlap).toBe(false);
    expect([201, 202]).toContain((await second).status);
    for (const u of ['ra', 'rb']) await waitFor(() => answersThroughProxy(h!, u), 30_000, 200);
    expect(h.output()).toMatch(/counting starts this hub process did not admit on their nodes/);
  }, 300_000);
});
