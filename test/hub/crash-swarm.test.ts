/**
 * kill -9 of the hub during spawns leaves no orphan and no duplicate Swarm service: the same
 * storm as crash.test.ts on a smaller scale (5 users), with the real hub process, the real
 * atrium-proxy and a real Docker Engine in Swarm mode (test/services/docker.ts). Services are
 * counted through the Docker CLI by the hub's `atrium.hub` label, independent of the hub.
 */
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, it } from 'vitest';
import { acquireDocker, docker, removeLeftovers, TEST_IMAGE, type DockerHandle } from '../services/docker.js';
import { hubProcess, type HubProcess } from './hub-process.js';
import { backendCensus, killDuringStorm } from './crash-probe.js';

const FIXTURES = resolve(import.meta.dirname, '../fixtures');
const USERS = 5;
let handle: DockerHandle | undefined;
let hp: HubProcess | null = null;
let hubId = '';

beforeAll(async () => {
  handle = await acquireDocker();
}, 300_000);
afterEach(async () => {
  await removeLeftovers(hubId, false).catch(() => undefined);
  await hp?.teardown();
  hp = null;
}, 120_000);
afterAll(async () => {
  await handle?.release();
}, 120_000);

interface ServiceInfo {
  id: string;
  user: string;
}

async function services(): Promise<ServiceInfo[]> {
  const out = await docker(['service', 'ls', '--filter', `label=atrium.hub=${hubId}`, '--format', '{{.ID}}']);
  const ids = out.split('\n').filter(Boolean);
  if (ids.length === 0) return [];
  const specs = JSON.parse(await docker(['service', 'inspect', ...ids])) as { ID: string; Spec: { Labels: Record<string, string> } }[];
  return specs.map((s) => ({ id: s.ID, user: s.Spec.Labels['atrium.user'] ?? '?' }));
}

/** Pending rows own their service too: a start caught half-way is resumed, not stopped (decision 0027). */
async function census(h: HubProcess) {
  return backendCensus(h, await services(), (state) => state.serviceId, ['running', 'pending']);
}

describe('hub killed with -9 during Swarm spawns', () => {
  for (const point of ['first service created', 'all ready'] as const) {
    it(`kill at ${point}: no orphan, no duplicate service; starting everyone again gives nobody a second one`, async () => {
      hubId = `c${randomBytes(4).toString('hex')}`;
      const h = await hubProcess({
        spawner: {
          kind: 'swarm',
          slowSpawnTimeoutSeconds: 1,
          startTimeoutSeconds: 120,
          swarm: {
            hubId,
            images: [{ image: TEST_IMAGE, name: 'test' }],
            command: ['python3', '/opt/atrium-fixtures/stub-singleuser.py'],
            hostBindAddress: '127.0.0.1',
            stopTimeoutSeconds: 2,
            mounts: [{ type: 'bind', source: FIXTURES, target: '/opt/atrium-fixtures', readOnly: true }],
          },
        },
      });
      hp = h;
      await killDuringStorm({
        h, label: `swarm, kill at ${point} (services)`, point: point === 'all ready' ? 'all ready' : 'first object',
        names: Array.from({ length: USERS }, (_, i) => `sw${i}`), objects: services, census: () => census(h),
      });
    }, 420_000);
  }
});
