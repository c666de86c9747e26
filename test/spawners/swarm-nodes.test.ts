/**
 * Per-node admission against a real two-node Docker Swarm (test/services/swarm-nodes.ts: a manager
 * and a worker, each a dockerd in its own network namespace): the Swarm kind lists both nodes (and
 * only those meeting the placement constraints), the hub's start queue fed by that list grants one
 * start per node, a drained node stops getting starts after the next refresh, and a service built
 * for the node the queue chose runs on that node. The hub end to end is in
 * test/hub/swarm-node-admission.test.ts.
 */
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import Docker from 'dockerode';
import { pino } from 'pino';
import { Value } from '@sinclair/typebox/value';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { swarmSpawnerKind, SwarmSpawnerOptions } from '../../src/spawners/swarm/index.js';
import { buildServiceSpec } from '../../src/spawners/swarm/service-spec.js';
import { StartQueue, type Slot } from '../../src/hub/spawn/start-queue.js';
import { NodeAdmission } from '../../src/hub/spawn/node-admission.js';
import type { SpawnContext } from '../../src/spawners/spawner.js';
import { startPrivateSwarm, type PrivateSwarm } from '../services/swarm-nodes.js';

const CAN_RUN = process.getuid?.() === 0 && existsSync('/usr/sbin/dockerd') && existsSync('/usr/bin/docker-registry');
const log = pino({ level: 'silent' });

describe.skipIf(!CAN_RUN)('Swarm nodes for the per-node start queue', () => {
  let swarm: PrivateSwarm;
  let options: SwarmSpawnerOptions;
  let ids: { manager: string; worker: string };
  let image: string;

  beforeAll(async () => {
    swarm = await startPrivateSwarm({ nodes: 2, auth: false });
    image = `${swarm.registry}/course/tiny:1`;
    await swarm.pushImage(image);
    options = Value.Default(SwarmSpawnerOptions, {
      hubId: `n${randomBytes(3).toString('hex')}`,
      dockerUrl: `unix://${swarm.manager.socket}`,
      images: [{ image }],
    }) as SwarmSpawnerOptions;
    const self = async (i: number) => swarm.nodes[i]!.docker(['info', '--format', '{{.Swarm.NodeID}}']);
    ids = { manager: await self(0), worker: await self(1) };
    // The worker is listed as ready a moment after it joined.
    const deadline = Date.now() + 30_000;
    while ((await swarmSpawnerKind.admissionNodes!(options)).nodes.length < 2 && Date.now() < deadline) await sleep(300);
  }, 240_000);

  afterAll(async () => {
    await swarm?.stop();
  }, 120_000);

  it('lists the active, ready nodes that meet the placement constraints', async () => {
    expect((await swarmSpawnerKind.admissionNodes!(options)).nodes).toEqual([ids.manager, ids.worker].sort());
    expect((await swarmSpawnerKind.admissionNodes!({ ...options, placementConstraints: ['node.role==worker'] })).nodes).toEqual([ids.worker]);
    expect((await swarmSpawnerKind.admissionNodes!({ ...options, placementConstraints: [`node.hostname==${swarm.manager.hostname}`] })).nodes).toEqual([ids.manager]);
  });

  it('admits one start per node, and none onto a node drained since', async () => {
    const q = new StartQueue(0);
    const admission = new NodeAdmission(q, swarmSpawnerKind as never, () => options, log);
    try {
      await admission.configure(1, 5);
      const never = () => new AbortController().signal;
      const a = await q.acquire('a', never(), () => undefined);
      const b = await q.acquire('b', never(), () => undefined);
      expect([a.node, b.node].sort()).toEqual([ids.manager, ids.worker].sort());
      let c: Slot | null = null;
      const pc = q.acquire('c', never(), () => undefined).then((s) => (c = s));
      expect(q.positionOf('c')?.position).toBe(1);

      await swarm.manager.docker(['node', 'update', '--availability', 'drain', ids.worker]);
      // The engine drops the worker from the list at once; the queue's next refresh (every 5 s)
      // picks that up. The worker's running start keeps its slot.
      const deadline = Date.now() + 15_000;
      while ((await swarmSpawnerKind.admissionNodes!(options)).nodes.length !== 1 && Date.now() < deadline) await sleep(200);
      await sleep(6000);
      const onWorker = a.node === ids.worker ? a : b;
      const onManager = a.node === ids.worker ? b : a;
      onWorker();
      await sleep(100);
      expect(c).toBeNull();
      expect(q.nodeUsage()).toEqual(new Map([[ids.manager, 1]]));
      onManager();
      await pc;
      expect((c as Slot | null)?.node).toBe(ids.manager);
      (c as Slot | null)?.();
    } finally {
      admission.close();
      await swarm.manager.docker(['node', 'update', '--availability', 'active', ids.worker]);
    }
  }, 60_000);

  it('a service built for the chosen node runs on that node', async () => {
    const docker = new Docker({ socketPath: swarm.manager.socket });
    const ctx = { user: { name: 'pin', admin: false, groups: [] }, serverName: '', env: {}, userOptions: {}, authState: null, baseUrl: '/user/pin/', log, signal: new AbortController().signal, ownerTag: 'x:1:a', recordHandle: () => undefined, node: ids.worker } satisfies SpawnContext;
    const spec = buildServiceSpec({ options: { ...options, command: ['/bin/sleep'], args: ['60'] }, ctx, userOptions: { image } as never, serviceName: `atrium-pin-${options.hubId}`, port: 8888, mounts: [] });
    expect((spec.TaskTemplate as { Placement: { Constraints: string[] } }).Placement.Constraints).toEqual([`node.id==${ids.worker}`]);
    const created = (await docker.createService(spec as Docker.CreateServiceOptions)) as { id: string };
    try {
      const deadline = Date.now() + 60_000;
      let task: { NodeID?: string; Status?: { State?: string } } | undefined;
      while (Date.now() < deadline) {
        [task] = (await docker.listTasks({ filters: { service: [created.id] } })) as typeof task[];
        if (task?.Status?.State === 'running') break;
        await sleep(300);
      }
      expect(task?.Status?.State).toBe('running');
      expect(task?.NodeID).toBe(ids.worker);
    } finally {
      await docker.getService(created.id).remove();
    }
  }, 90_000);
});
