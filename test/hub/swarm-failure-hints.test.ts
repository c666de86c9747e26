/**
 * The spawn-pending page's hints against a real Docker Engine in Swarm mode (issue 10, item 1):
 * an image the node does not have, and a server no node has room for (64 TB reserved). Both land
 * on the pending page with the engine's reason and the hint, and leave no service behind.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acquireDocker, leftovers, removeLeftovers, TEST_IMAGE, type DockerHandle } from '../services/docker.js';
import { swarmSingleuserSpawner } from '../services/swarm-spawner-config.js';
import { Browser, startTestHub, waitFor, type TestHub } from './harness.js';

const hubA = `h${randomBytes(4).toString('hex')}`;
const hubB = `h${randomBytes(4).toString('hex')}`;
const MISSING = 'atrium-no-such-image:1';
let handle: DockerHandle;
let images: TestHub;
let full: TestHub;

const swarm = (hubId: string, extra: Record<string, unknown>) => ({
  spawner: swarmSingleuserSpawner(hubId, { stopTimeoutSeconds: 1, ...extra }, { startTimeoutSeconds: 90 }),
});

beforeAll(async () => {
  handle = await acquireDocker();
  images = await startTestHub(swarm(hubA, { images: [{ image: MISSING, name: 'Missing' }] }));
  full = await startTestHub(swarm(hubB, { images: [{ image: TEST_IMAGE, name: 'Test notebook' }], memoryReservation: '64T' }));
}, 300_000);

afterAll(async () => {
  await images?.teardown();
  await full?.teardown();
  await removeLeftovers(hubA, false).catch(() => undefined);
  await removeLeftovers(hubB, false).catch(() => undefined);
  await handle?.release();
}, 120_000);

async function pendingPage(th: TestHub, user: string): Promise<string> {
  const b = new Browser(th.url);
  await b.login(user, 'pw', '/hub/home');
  await b.follow('/hub/spawn');
  await waitFor(() => th.running.hub.spawns.failures.get(`${user}/`) && !th.running.hub.spawns.get(user, ''), 120_000, 250);
  const { res } = await b.follow(`/hub/spawn-pending/${user}`);
  expect(res.status).toBe(200);
  return res.text();
}

describe('Swarm failures on the spawn-pending page', () => {
  it('an image the cluster does not have: reason and "does not exist on the cluster"', async () => {
    const html = await pendingPage(images, 'alice');
    expect(/id="reason"[^>]*>([^<]*)/.exec(html)?.[1]).toBe(`No such image: ${MISSING}`);
    expect(html).toContain('Your server could not start');
    expect(html).toMatch(/id="hint">The image for this server does not exist on the cluster/);
    expect(html).toContain('id="retry"');
    expect((await leftovers(hubA, false)).services).toEqual([]);
  }, 150_000);

  it('64 TB reserved: no node fits, "choose a smaller size"', async () => {
    const html = await pendingPage(full, 'bob');
    expect(html).toContain('Your server could not start');
    expect(html).toMatch(/insufficient resources/);
    expect(html).toMatch(/id="hint">No node has enough free CPU, memory or GPUs/);
    expect((await leftovers(hubB, false)).services).toEqual([]);
  }, 150_000);
});
