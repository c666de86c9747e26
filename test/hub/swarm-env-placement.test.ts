/**
 * An environment's placement constraints through the hub (issue 15, decision 0027), with the real
 * Docker Engine in Swarm mode (one node, a label put on it with `docker node update` and removed
 * afterwards) and `startQueue.perNode: 1`: an administrator defines two environments through the
 * API, one constrained to the labelled node and one to a label no node has (staff may not set
 * constraints: 400 naming the field). A start of the first is admitted on that node, its service
 * carries the environment's constraint and the node pin, and the server answers through the proxy;
 * a start of the second is admitted unpinned and fails with the engine's "no suitable node" on
 * the pending page instead of waiting in the queue for a node that does not exist.
 */
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acquireDocker, docker, removeLeftovers, TEST_IMAGE, type DockerHandle } from '../services/docker.js';
import { startTestHub, waitFor, type TestHub } from './harness.js';
import { answersThroughProxy } from './crash-probe.js';

const FIXTURES = resolve(import.meta.dirname, '../fixtures');
const hubId = `e${randomBytes(4).toString('hex')}`;
const label = `atrium-env-${randomBytes(3).toString('hex')}`;
let handle: DockerHandle;
let th: TestHub;
let nodeId = '';

beforeAll(async () => {
  handle = await acquireDocker();
  nodeId = await docker(['info', '--format', '{{.Swarm.NodeID}}']);
  await docker(['node', 'update', '--label-add', `${label}=yes`, nodeId]);
  th = await startTestHub({
    staff: { teachingStaff: [{ users: ['teach'], groups: ['course-e'] }] },
    spawner: {
      kind: 'swarm',
      startTimeoutSeconds: 60,
      concurrentSpawnLimit: 0,
      startQueue: { enabled: true, perNode: 1 },
      swarm: {
        hubId,
        images: [{ image: TEST_IMAGE, name: 'test' }],
        command: ['python3', '/opt/atrium-fixtures/stub-singleuser.py'],
        hostBindAddress: '127.0.0.1',
        stopTimeoutSeconds: 1,
        mounts: [{ type: 'bind', source: FIXTURES, target: '/opt/atrium-fixtures', readOnly: true }],
      },
    },
  });
}, 300_000);

afterAll(async () => {
  await th?.teardown();
  await removeLeftovers(hubId, false).catch(() => undefined);
  await docker(['node', 'update', '--label-rm', label, nodeId]).catch(() => undefined);
  await handle?.release();
}, 120_000);

describe("an environment's placement constraints", () => {
  it('admits on the nodes they allow, pins there, and a constraint no node meets fails with the engine\'s reason', async () => {
    const admin = th.token('admin');
    for (const u of ['eg', 'en', 'teach']) th.token(u);
    const teach = th.token('teach');
    expect((await th.api('POST', '/groups/course-e', { token: admin, body: { users: ['eg', 'en'] } })).status).toBe(201);
    const define = (token: string, name: string, constraints: string[]) =>
      th.api('POST', '/environments', { token, body: { name, image: TEST_IMAGE, groups: ['course-e'], constraints } });
    const refused = await define(teach, 'staff-env', [`node.labels.${label}==yes`]);
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { message: string }).message).toMatch(/^constraints: only administrators/);
    const bad = await define(admin, 'bad-env', ['node.labels.x']);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { message: string }).message).toMatch(/^constraints: .*needs == or !=/);
    expect((await define(admin, 'labelled', [`node.labels.${label}==YES`])).status).toBe(201);
    expect((await define(admin, 'nowhere', [`node.labels.${label}==no`])).status).toBe(201);

    const ok = await th.api('POST', '/users/eg/server', { token: admin, body: { environment: 'labelled' } });
    expect([201, 202]).toContain(ok.status);
    await waitFor(() => answersThroughProxy(th, 'eg'), 60_000, 200);
    const name = (await docker(['service', 'ls', '--filter', `label=atrium.user=eg`, '--filter', `label=atrium.hub=${hubId}`, '--format', '{{.Name}}'])).trim();
    const constraints = JSON.parse(await docker(['service', 'inspect', name, '--format', '{{json .Spec.TaskTemplate.Placement.Constraints}}'])) as string[];
    expect(constraints).toEqual([`node.labels.${label}==YES`, `node.id==${nodeId}`]);

    // The node's one slot is free again (eg is up): en is admitted, unpinned, and the engine refuses.
    const none = await th.api('POST', '/users/en/server', { token: admin, body: { environment: 'nowhere' } });
    expect([202, 500]).toContain(none.status);
    await none.arrayBuffer();
    await waitFor(() => th.running.hub.spawns.get('en', '') === undefined, 60_000, 100);
    expect(th.running.hub.spawns.failures.get('en/')?.message).toMatch(/no suitable node/);
  }, 180_000);
});
