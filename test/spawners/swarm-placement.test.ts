/**
 * Per-node admission that knows placement and survives a restart (issue 15, decision 0027),
 * against the real Docker Engine in Swarm mode (test/services/docker.ts, one node):
 * - our constraint evaluation agrees with the engine's scheduler, expression by expression: a
 *   service is created with each constraint and the engine either places its task on the node or
 *   keeps it pending ("no suitable node"); a label put on the node with `docker node update` is
 *   removed afterwards; an expression we cannot evaluate is reported unknown, never "all nodes";
 * - a service of this hub still starting that the hub does not account for (what a restarted hub
 *   inherits) is listed with its node, and the start queue counts it there until it is gone.
 * The hub end to end (a start resumed after kill -9 of the hub) is in test/hub/swarm-admission-restart.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import Docker from 'dockerode';
import { pino } from 'pino';
import { Value } from '@sinclair/typebox/value';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acquireDocker, docker, removeLeftovers, TEST_IMAGE, type DockerHandle } from '../services/docker.js';
import { swarmSpawnerKind, SwarmSpawnerOptions } from '../../src/spawners/swarm/index.js';
import { hubLabels } from '../../src/spawners/swarm/service-spec.js';
import { StartQueue, type Slot } from '../../src/hub/spawn/start-queue.js';
import { NodeAdmission } from '../../src/hub/spawn/node-admission.js';

const hubId = `p${randomBytes(4).toString('hex')}`;
const label = `atrium-test-${randomBytes(3).toString('hex')}`;
const log = pino({ level: 'silent' });
let handle: DockerHandle;
let api: Docker;
let nodeId = '';
let hostname = '';
let options: SwarmSpawnerOptions;

beforeAll(async () => {
  handle = await acquireDocker();
  api = new Docker({ socketPath: handle.socket });
  nodeId = await docker(['info', '--format', '{{.Swarm.NodeID}}']);
  hostname = await docker(['node', 'inspect', nodeId, '--format', '{{.Description.Hostname}}']);
  await docker(['node', 'update', '--label-add', `${label}=GpU`, nodeId]);
  options = Value.Default(SwarmSpawnerOptions, { hubId, dockerUrl: `unix://${handle.socket}`, images: [{ image: TEST_IMAGE }] }) as SwarmSpawnerOptions;
}, 300_000);

afterAll(async () => {
  await docker(['node', 'update', '--label-rm', label, nodeId]).catch(() => undefined);
  await removeLeftovers(hubId, false).catch(() => undefined);
  await handle?.release();
}, 120_000);

/** A service of this hub that just sleeps; `constraints` go into its placement. */
async function sleeper(name: string, constraints: string[], ownerTag?: string): Promise<string> {
  const labels = hubLabels(hubId, name, '', ownerTag);
  const created = (await api.createService({
    Name: `atrium-${hubId}-${name}`,
    Labels: labels,
    TaskTemplate: {
      ContainerSpec: { Image: TEST_IMAGE, Args: ['/bin/sleep', '120'], StopGracePeriod: 1e9 },
      RestartPolicy: { Condition: 'none', MaxAttempts: 0 },
      Placement: { Constraints: constraints },
      Networks: [{ Target: 'host' }],
    },
    Mode: { Replicated: { Replicas: 1 } },
  } as Docker.CreateServiceOptions)) as { id: string };
  return created.id;
}

type Task = { NodeID?: string; Status?: { State?: string; Err?: string } };
const tasksOf = async (id: string) => (await api.listTasks({ filters: JSON.stringify({ service: [id] }) })) as Task[];

/** The engine's verdict: placed on a node (true), or pending for want of a suitable node (false). */
async function engineVerdict(id: string): Promise<boolean> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const [t] = await tasksOf(id);
    if (t?.NodeID) return true;
    if (t?.Status?.State === 'pending' && /no suitable node/.test(t.Status.Err ?? '')) return false;
    await sleep(200);
  }
  throw new Error(`service ${id}: no verdict from the engine`);
}

describe('placement constraints against the real Swarm', () => {
  it('our evaluation agrees with the engine for every supported attribute', async () => {
    const cases = [
      `node.labels.${label}==gpu`, // values compare case-insensitively
      `node.labels.${label}!=GPU`,
      `node.labels.${label.toUpperCase()}==gpu`, // label names do not
      `node.labels.absent-${label}!=x`, // a missing label reads as ""
      `node.labels.absent-${label}==x`,
      'node.role==MANAGER',
      'node.role!=manager',
      'node.platform.os==linux',
      'node.platform.arch!=x86_64-not',
      `node.hostname==${hostname}`,
      `node.hostname!=${hostname}`,
      `node.id==${nodeId}`,
      `NODE.ID!=${nodeId}`,
      `engine.labels.absent-${label}==x`,
      'node.ip==127.0.0.0/8',
      'node.ip!=127.0.0.1',
    ];
    const view = await swarmSpawnerKind.admissionNodes!(options);
    expect(view.nodes).toEqual([nodeId]);
    const ours = cases.map((c) => {
      const p = view.placement!({ environment: 'e', environmentConstraints: [c] });
      if ('unknown' in p) throw new Error(`${c}: unknown`);
      return p.nodes.includes(nodeId);
    });
    const ids = await Promise.all(cases.map((c, i) => sleeper(`c${i}`, [c])));
    try {
      const engine = await Promise.all(ids.map(engineVerdict));
      const table = cases.map((c, i) => `${c}: ours ${ours[i]}, engine ${engine[i]}`);
      expect(ours, table.join('\n')).toEqual(engine);
      // Both answers occur: the cases tell the node apart from no node.
      expect(new Set(engine)).toEqual(new Set([true, false]));
    } finally {
      await Promise.all(ids.map((id) => api.getService(id).remove().catch(() => undefined)));
    }
  }, 90_000);

  it('an expression we cannot evaluate is unknown (the engine places such a service nowhere)', async () => {
    const view = await swarmSpawnerKind.admissionNodes!(options);
    expect(view.placement!({ environmentConstraints: ['node.zone==a'] })).toEqual({ unknown: 'node.zone==a' });
    const admin = await swarmSpawnerKind.admissionNodes!({ ...options, placementConstraints: ['node.zone==a'] });
    expect(admin.placement!({})).toEqual({ unknown: 'node.zone==a' });
    // Through the queue: such a start is admitted, unpinned, within the whole-cluster capacity.
    const q = new StartQueue(0);
    const admission = new NodeAdmission(q, swarmSpawnerKind as never, () => ({ ...options, placementConstraints: ['node.zone==a'] }), log);
    try {
      await admission.configure(1, 5);
      const a = await q.acquire('a', new AbortController().signal, () => undefined, admission.placementFor({}));
      expect(a.node).toBeUndefined();
      let b: Slot | null = null;
      const pb = q.acquire('b', new AbortController().signal, () => undefined, admission.placementFor({})).then((s) => (b = s));
      await sleep(50);
      expect(b).toBeNull(); // one node × perNode 1
      a();
      await pb;
      (b as Slot | null)?.();
    } finally {
      admission.close();
    }
  }, 30_000);

  it('a start this hub process did not admit is counted on its node until its service is gone', async () => {
    const prefix = `inst${randomBytes(2).toString('hex')}:`;
    const tag = `${prefix}7:abc`;
    const id = await sleeper('inherited', [], tag);
    let removed = false;
    try {
      expect(await engineVerdict(id)).toBe(true);
      const nobody = { ownerPrefix: prefix, settled: () => false };
      expect((await swarmSpawnerKind.admissionNodes!(options, nobody)).starting).toEqual([{ node: nodeId, tag }]);
      // A server the hub accounts for (running, or a start of its own) is not asked about.
      expect((await swarmSpawnerKind.admissionNodes!(options, { ownerPrefix: prefix, settled: (t) => t === tag })).starting).toEqual([]);
      expect((await swarmSpawnerKind.admissionNodes!(options, { ownerPrefix: 'other:', settled: () => false })).starting).toEqual([]);

      const q = new StartQueue(0);
      const admission = new NodeAdmission(q, swarmSpawnerKind as never, () => options, log, { ownerPrefix: () => prefix, settled: () => () => false, inherited: () => true });
      try {
        await admission.configure(1, 1);
        expect(q.externalUsage()).toEqual(new Map([[nodeId, 1]]));
        let a: Slot | null = null;
        const pa = q.acquire('a', new AbortController().signal, () => undefined, admission.placementFor({})).then((s) => (a = s));
        await sleep(300);
        expect(a).toBeNull();
        await api.getService(id).remove();
        removed = true;
        // The next refresh (every second here) no longer sees it: the node's room is free.
        await pa;
        expect((a as Slot | null)?.node).toBe(nodeId);
        expect(q.externalUsage()).toEqual(new Map());
        (a as Slot | null)?.();
      } finally {
        admission.close();
      }
    } finally {
      if (!removed) await api.getService(id).remove().catch(() => undefined);
    }
  }, 60_000);
});
