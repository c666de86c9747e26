/**
 * The Swarm spawner against a real Docker Engine in Swarm mode (host networking, 127.0.0.1 only):
 * the shared contract with the python stub bind-mounted into the test image, then what only Swarm
 * has — task errors, labels and limits, re-attach without restart, and the real singleuser.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { resolve } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { swarmSpawnerKind, SwarmSpawnerOptions } from '../../src/spawners/swarm/index.js';
import type { Spawner } from '../../src/spawners/spawner.js';
import { acquireDocker, docker, leftovers, removeLeftovers, TEST_IMAGE, type DockerHandle } from '../services/docker.js';
import { freePort, waitForHttp } from '../services/util.js';
import { contractContext, contractEnv, runSpawnerContract, silentLog } from './contract.js';

const FIXTURES = resolve(import.meta.dirname, '../fixtures');
const hubId = `t${randomBytes(4).toString('hex')}`;
let handle: DockerHandle | undefined;
const dockerReady = acquireDocker().then((h) => (handle = h));

export function swarmOptions(partial: Partial<SwarmSpawnerOptions> = {}): SwarmSpawnerOptions {
  return Value.Default(SwarmSpawnerOptions, {
    hubId,
    images: [{ image: TEST_IMAGE, name: 'test', description: 'debootstrap bookworm + jupyterhub' }],
    command: ['python3', '/opt/atrium-fixtures/stub-singleuser.py'],
    hostBindAddress: '127.0.0.1',
    stopTimeoutSeconds: 2,
    mounts: [{ type: 'bind', source: FIXTURES, target: '/opt/atrium-fixtures', readOnly: true }],
    ...partial,
  }) as SwarmSpawnerOptions;
}

afterAll(async () => {
  await removeLeftovers(hubId, false).catch(() => undefined);
  await handle?.release();
}, 120_000);

runSpawnerContract('swarm', async () => {
  await dockerReady;
  return {
    kind: swarmSpawnerKind,
    options: swarmOptions(),
    stub: true,
    startTimeoutMs: 60_000,
    failingOptions: swarmOptions({ command: ['python3', '-c', 'import sys; sys.exit(3)'] }),
    neverReadyOptions: swarmOptions({ command: ['sleep', '600'] }),
  };
});

describe('swarm spawner', () => {
  const running: Spawner[] = [];
  let apiPort = 0;
  beforeAll(async () => {
    await dockerReady;
    apiPort = await freePort();
  });
  afterAll(async () => {
    for (const s of running) await s.stop().catch(() => undefined);
  });

  function make(opts: SwarmSpawnerOptions, user: string, server = ''): Spawner {
    const s = swarmSpawnerKind.create({ options: opts, user: { name: user, admin: false, groups: [] }, serverName: server, log: silentLog });
    running.push(s);
    return s;
  }
  const uname = (tag: string) => `${tag}${randomBytes(3).toString('hex')}`;

  it('labels, limits, user and restart policy reach the service; restore re-attaches without a restart', async () => {
    const user = uname('lab');
    const opts = swarmOptions({ cpuLimit: 0.5, memoryLimit: '256M', memoryReservation: '64M', placementConstraints: ['node.role==manager'] });
    const s = make(opts, user, 'nb');
    const env = { ...contractEnv(user, 'nb', apiPort), NB_UID: '1000', NB_GID: '1000' };
    const { url } = await s.start(contractContext(user, 'nb', env, AbortSignal.timeout(60_000)));
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:2\d{4}$/);
    const st = s.state() as { serviceId: string };
    const spec = JSON.parse(await docker(['service', 'inspect', st.serviceId, '--format', '{{json .Spec}}']));
    expect(spec.Labels).toMatchObject({ 'atrium.hub': hubId, 'atrium.user': user, 'atrium.server': 'nb' });
    expect(spec.TaskTemplate.RestartPolicy.Condition).toBe('none');
    expect(spec.TaskTemplate.Resources.Limits).toMatchObject({ NanoCPUs: 5e8, MemoryBytes: 256 * 2 ** 20 });
    expect(spec.TaskTemplate.Placement.Constraints).toEqual(['node.role==manager']);
    expect(spec.TaskTemplate.ContainerSpec.User).toBe('1000:1000');
    const got = (await (await fetch(`${url}/user/${user}/nb/env`)).json()) as Record<string, string>;
    expect(got.MEM_LIMIT).toBe(String(256 * 2 ** 20));
    expect(got.JUPYTERHUB_SERVICE_URL).toBe(`http://127.0.0.1:${new URL(url).port}/user/${user}/nb/`);
    const container = await docker(['ps', '-q', '--no-trunc', '--filter', `label=com.docker.swarm.service.id=${st.serviceId}`]);
    expect(await docker(['exec', container, 'id', '-u'])).toBe('1000');

    const again = make(opts, user, 'nb');
    again.restore(JSON.parse(JSON.stringify(s.state())));
    expect(await again.poll()).toBeNull();
    expect(await docker(['ps', '-q', '--no-trunc', '--filter', `label=com.docker.swarm.service.id=${st.serviceId}`])).toBe(container);
    await again.stop();
    expect(await again.poll()).not.toBeNull();
    expect((await leftovers(hubId, false)).services).not.toContain(st.serviceId);
  }, 120_000);

  it('a missing image fails the spawn with the engine\'s message and leaves no service', async () => {
    const user = uname('img');
    const opts = swarmOptions({ images: [{ image: 'atrium-no-such-image:404' }] });
    const s = make(opts, user);
    const err = await s.start(contractContext(user, '', contractEnv(user, '', apiPort), AbortSignal.timeout(60_000))).catch((e: Error) => e);
    expect(err).toMatchObject({ name: 'SpawnError' });
    expect((err as Error).message).toMatch(/no such image/i);
    expect(await docker(['service', 'ls', '-q', '--filter', `label=atrium.user=${user}`])).toBe('');
  }, 120_000);

  it('an impossible placement constraint fails with "no suitable node"', async () => {
    const user = uname('pl');
    const s = make(swarmOptions({ placementConstraints: ['node.labels.atrium-nowhere==yes'] }), user);
    const err = await s.start(contractContext(user, '', contractEnv(user, '', apiPort), AbortSignal.timeout(60_000))).catch((e: Error) => e);
    expect((err as Error).message).toMatch(/no suitable node/);
    expect(await docker(['service', 'ls', '-q', '--filter', `label=atrium.user=${user}`])).toBe('');
  }, 120_000);

  it('runs the real jupyterhub-singleuser from the image', async () => {
    // singleuser exits when it cannot reach its hub, so a minimal hub API answers the version check.
    const hubPort = await freePort();
    const hub = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'x-jupyterhub-version': '3.0.0' });
      res.end(JSON.stringify(req.url === '/hub/api' ? { version: '3.0.0' } : {}));
    });
    await new Promise<void>((r) => hub.listen(hubPort, '127.0.0.1', () => r()));
    const user = uname('real');
    const s = make(swarmOptions({ command: ['jupyterhub-singleuser'], mounts: [], environment: { HOME: '/tmp' }, user: '1000:1000' }), user);
    const env = contractEnv(user, '', hubPort);
    const { url } = await s.start(contractContext(user, '', env, AbortSignal.timeout(90_000)));
    // The hub is unreachable on purpose: singleuser still serves; unauthenticated requests redirect.
    const status = await waitForHttp(`${url}/user/${user}/api`, 90_000);
    expect(status).toBeLessThan(500);
    const res = await fetch(`${url}/user/${user}/api`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { version?: string }).version).toBeTruthy();
    await s.stop();
    hub.close();
  }, 180_000);
});
