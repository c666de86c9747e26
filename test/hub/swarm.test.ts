/**
 * The Data Analysis Gateway end to end: a portal forwards the user's identity and SSHFS
 * credentials in headers; the hub logs the user in (header authenticator), starts the real
 * jupyterhub-singleuser as a Docker Swarm service with the storage folder mounted through the
 * atrium sshfs volume driver, and the notebook is reachable through atrium-proxy, with the
 * remote files visible through the notebook's own API. A hub restart re-attaches the service
 * (same container); stop removes the service and the volume.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningDriver } from '../../src/volumes/sshfs/main.js';
import { acquireDocker, docker, leftovers, removeLeftovers, startTestSshfsDriver, type DockerHandle } from '../services/docker.js';
import { swarmSingleuserSpawner } from '../services/swarm-spawner-config.js';
import { startSshd, type SshdService } from '../services/sshd.js';
import { Browser, startTestHub, waitFor, type TestHub } from './harness.js';

const hubId = `h${randomBytes(4).toString('hex')}`;
// Its own driver name, so this file can run beside the spawner's sshfs tests.
const driverName = 'atrium-sshfs-hubtest';
const work = mkdtempSync(join(tmpdir(), 'atrium-hub-swarm-'));
let handle: DockerHandle;
let sshd: SshdService;
let driver: RunningDriver;
let th: TestHub;

beforeAll(async () => {
  [handle, sshd] = await Promise.all([acquireDocker(), startSshd()]);
  driver = await startTestSshfsDriver(driverName, work, sshd.knownHostsFile);
  th = await startTestHub({
    authenticator: {
      kind: 'header',
      header: {
        userHeader: 'Remote-User',
        trustedProxies: ['127.0.0.1/32'],
        authStateHeaders: [{ header: 'X-Auth-State', key: 'mount_data', parse: 'json', required: true }],
      },
    },
    spawner: swarmSingleuserSpawner(hubId, { mounts: [{ type: 'sshfs', target: '/home/jovyan/work', driver: driverName }] }),
  });
}, 300_000);

afterAll(async () => {
  await th?.teardown();
  await removeLeftovers(hubId).catch(() => undefined);
  await driver?.close();
  await sshd?.stop();
  await handle?.release();
  rmSync(work, { recursive: true, force: true });
}, 120_000);

describe('Swarm + SSHFS through the hub and the proxy', () => {
  it('spawns from a portal login, serves the notebook through the proxy with the storage folder mounted, re-attaches after a hub restart, and cleans up on stop', async () => {
    writeFileSync(join(sshd.storageDir, 'from-storage.txt'), 'hello from the storage host');
    const mount = JSON.stringify({ HOST: '127.0.0.1', USERNAME: sshd.user, PATH: sshd.storageDir, PRIVATEKEY: sshd.clientKey, PORT: String(sshd.port) });
    const b = new Browser(th.url);
    const login = await b.request('GET', '/hub/login', { headers: { 'Remote-User': 'alice', 'X-Auth-State': mount } });
    expect(login.status).toBe(302);
    await b.follow(login.headers.get('location')!);

    const admin = th.token('admin');
    await waitFor(async () => {
      const r = await th.api('GET', '/users/alice', { token: admin });
      return ((await r.json()) as { servers: Record<string, { ready: boolean }> }).servers['']?.ready;
    }, 180_000, 500);

    // The OAuth dance on a page first: the notebook API itself answers 403, it never redirects.
    const tree = await b.follow('/user/alice/tree');
    expect(tree.res.status).toBe(200);
    await tree.res.arrayBuffer();
    const { res } = await b.follow('/user/alice/api/contents/work');
    expect(res.status).toBe(200);
    const listing = (await res.json()) as { content: { name: string }[] };
    expect(listing.content.map((c) => c.name)).toContain('from-storage.txt');

    const hub = () => th.running.hub;
    const stateOf = () => JSON.parse(hub().stores.servers.get(hub().stores.users.get('alice')!.id, '')!.state) as { serviceId: string; volumes: string[] };
    const { serviceId } = stateOf();
    const containerOf = () => docker(['ps', '-q', '--no-trunc', '--filter', `label=com.docker.swarm.service.id=${serviceId}`]);
    const container = await containerOf();
    expect(container).toMatch(/^[0-9a-f]{64}$/);

    await th.restart();
    expect(hub().spawns.get('alice', '')?.phase).toBe('running');
    expect(stateOf().serviceId).toBe(serviceId);
    expect(await containerOf()).toBe(container);
    const again = await b.request('GET', '/user/alice/api/contents/work');
    expect(again.status).toBe(200);

    const stop = await th.api('DELETE', '/users/alice/server', { token: th.token('admin') });
    expect([202, 204]).toContain(stop.status);
    await waitFor(() => !hub().spawns.get('alice', ''), 60_000, 250);
    expect(await leftovers(hubId)).toEqual({ services: [], volumes: [] });
  }, 400_000);

  it('shows the driver\'s error on the spawn page when the storage credentials are wrong, and leaves nothing behind', async () => {
    const mount = JSON.stringify({ HOST: '127.0.0.1', USERNAME: sshd.user, PATH: sshd.storageDir, PRIVATEKEY: sshd.wrongClientKey, PORT: String(sshd.port) });
    const b = new Browser(th.url);
    const login = await b.request('GET', '/hub/login', { headers: { 'Remote-User': 'bob', 'X-Auth-State': mount } });
    expect(login.status).toBe(302);
    await b.follow(login.headers.get('location')!);
    await waitFor(() => th.running.hub.spawns.failures.get('bob/'), 120_000, 500);
    const { res } = await b.follow('/hub/spawn-pending/bob');
    const html = await res.text();
    expect(html).toContain('sshfs: authentication failed');
    expect(await leftovers(hubId)).toEqual({ services: [], volumes: [] });
  }, 200_000);
});
