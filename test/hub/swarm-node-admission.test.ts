/**
 * Per-node admission through the hub against the real Docker Swarm of the test engine (one node):
 * with `startQueue.perNode: 1`, three users start at once through the REST API; one Swarm service
 * exists at a time, the others wait in the queue with their position in the server model, every
 * service is pinned to the node the queue chose (`node.id==` in its placement), and all three
 * servers (the real jupyterhub-singleuser image) end up running. The multi-node side (node list,
 * drained node, placement on the chosen node) is in test/spawners/swarm-nodes.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acquireDocker, docker, leftovers, removeLeftovers, TEST_IMAGE, type DockerHandle } from '../services/docker.js';
import { startTestHub, waitFor, type TestHub } from './harness.js';

const hubId = `h${randomBytes(4).toString('hex')}`;
let handle: DockerHandle;
let th: TestHub;

beforeAll(async () => {
  handle = await acquireDocker();
  th = await startTestHub({
    spawner: {
      kind: 'swarm',
      notebookDir: '/tmp',
      startTimeoutSeconds: 120,
      httpTimeoutSeconds: 90,
      concurrentSpawnLimit: 0,
      startQueue: { enabled: true, perNode: 1 },
      swarm: {
        hubId,
        images: [{ image: TEST_IMAGE, name: 'Test notebook' }],
        command: ['jupyterhub-singleuser', '--allow-root'],
        hostBindAddress: '127.0.0.1',
        stopTimeoutSeconds: 2,
      },
    },
  });
}, 300_000);

afterAll(async () => {
  await th?.teardown();
  await removeLeftovers(hubId, false).catch(() => undefined);
  await handle?.release();
}, 120_000);

type Model = { servers?: Record<string, { ready?: boolean; queue_position?: number | null }> };

describe('start queue per Swarm node', () => {
  it('runs one start per node at a time, pins each service to the node, and starts everyone in turn', async () => {
    const admin = th.token('admin');
    const users = ['na1', 'na2', 'na3'];
    for (const u of users) th.token(u);
    const model = async (u: string) => (await (await th.api('GET', `/users/${u}`, { token: admin })).json()) as Model;
    const nodeId = await docker(['info', '--format', '{{.Swarm.NodeID}}']);

    // All three at once; the API answers 202 only after the slow-spawn timeout, so look meanwhile.
    const posts = users.map((u) => th.api('POST', `/users/${u}/server`, { token: admin }));
    const hub = th.running.hub;
    await waitFor(() => hub.spawns.queue.length === 2, 20_000, 20);
    expect(hub.spawns.queue.nodeUsage()).toEqual(new Map([[nodeId, 1]]));
    const positions = await Promise.all(users.map(async (u) => (await model(u)).servers?.['']?.queue_position ?? null));
    expect(positions.sort()).toEqual([1, 2, null]);

    // Sampled until all are ready: services of servers still starting (owner in the 'spawn'
    // phase) never number more than the one slot of the one node.
    let maxAtOnce = 0;
    const answered = Promise.all(posts);
    await waitFor(async () => {
      const names = (await docker(['service', 'ls', '--filter', `label=atrium.hub=${hubId}`, '--format', '{{.Name}}'])).split('\n').filter(Boolean);
      const starting = users.filter((u) => hub.spawns.get(u, '')?.phase === 'spawn' && names.some((n) => n.includes(u)));
      maxAtOnce = Math.max(maxAtOnce, starting.length);
      const ready = await Promise.all(users.map(async (u) => (await model(u)).servers?.['']?.ready === true));
      return ready.every(Boolean);
    }, 240_000, 300);
    expect(maxAtOnce).toBe(1);
    for (const r of await answered) {
      expect([201, 202]).toContain(r.status);
      await r.arrayBuffer();
    }

    const services = (await leftovers(hubId, false)).services;
    expect(services).toHaveLength(3);
    for (const id of services) {
      const constraints = JSON.parse(await docker(['service', 'inspect', id, '--format', '{{json .Spec.TaskTemplate.Placement.Constraints}}'])) as string[];
      expect(constraints).toContain(`node.id==${nodeId}`);
    }
    expect(hub.spawns.queue.nodeUsage()).toEqual(new Map([[nodeId, 0]]));

    for (const u of users) {
      const r = await th.api('DELETE', `/users/${u}/server`, { token: admin });
      expect([202, 204]).toContain(r.status);
      await r.arrayBuffer();
    }
    await waitFor(async () => (await leftovers(hubId, false)).services.length === 0, 60_000, 500);
  }, 300_000);
});
