/**
 * Swarm spawner + the atrium sshfs volume driver + a real sshd: the user's remote folder is mounted
 * into the server's container from auth_state, errors reach the user, and nothing outlives the server.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Spawner } from '../../src/spawners/spawner.js';
import { swarmSpawnerKind, SwarmSpawnerOptions } from '../../src/spawners/swarm/index.js';
import type { RunningDriver } from '../../src/volumes/sshfs/main.js';
import { acquireDocker, docker, leftovers, removeLeftovers, startTestSshfsDriver, TEST_IMAGE, type DockerHandle } from '../services/docker.js';
import { startSshd, type SshdService } from '../services/sshd.js';
import { freePort } from '../services/util.js';
import { contractContext, contractEnv, silentLog } from './contract.js';

const FIXTURES = resolve(import.meta.dirname, '../fixtures');
const hubId = `s${randomBytes(4).toString('hex')}`;
// A fixed name: Swarm only schedules onto nodes whose description lists the volume plugin, and the
// node learns about a new legacy plugin socket only at its next description refresh (~30 s here);
// once learnt, the name stays listed, so later runs need not wait.
const driverName = 'atrium-sshfs-test';
const work = mkdtempSync(join(tmpdir(), 'atrium-swarm-sshfs-'));
let handle: DockerHandle;
let sshd: SshdService;
let driver: RunningDriver;
let apiPort = 0;
const running: Spawner[] = [];

beforeAll(async () => {
  [handle, sshd] = await Promise.all([acquireDocker(), startSshd()]);
  const t0 = Date.now();
  driver = await startTestSshfsDriver(driverName, work, sshd.knownHostsFile);
  apiPort = await freePort();
  console.log(`swarm node listed ${driverName} after ${Date.now() - t0} ms`);
}, 240_000);
afterAll(async () => {
  for (const s of running) await s.stop().catch(() => undefined);
  await removeLeftovers(hubId).catch(() => undefined);
  await driver?.close();
  await sshd?.stop();
  await handle?.release();
  rmSync(work, { recursive: true, force: true });
}, 120_000);

function options(sshfsOptions?: Record<string, string>): SwarmSpawnerOptions {
  return Value.Default(SwarmSpawnerOptions, {
    hubId,
    images: [{ image: TEST_IMAGE }],
    command: ['python3', '/opt/atrium-fixtures/stub-singleuser.py'],
    hostBindAddress: '127.0.0.1',
    stopTimeoutSeconds: 2,
    mounts: [
      { type: 'bind', source: FIXTURES, target: '/opt/atrium-fixtures', readOnly: true },
      { type: 'sshfs', target: '/home/jovyan/work', driver: driverName, ...(sshfsOptions ? { options: sshfsOptions } : {}) },
    ],
  }) as SwarmSpawnerOptions;
}

/** What the portal's header carries and the header authenticator stores under auth_state.mount_data. */
const mountData = (key = sshd.clientKey) =>
  JSON.stringify({ HOST: '127.0.0.1', USERNAME: sshd.user, PATH: sshd.storageDir, PRIVATEKEY: key, PORT: String(sshd.port) });

async function spawn(opts: SwarmSpawnerOptions, authState: Record<string, unknown> | null) {
  const user = `u${randomBytes(3).toString('hex')}`;
  const s = swarmSpawnerKind.create({ options: opts, user: { name: user, admin: false, groups: [] }, serverName: '', log: silentLog });
  running.push(s);
  const ctx = { ...contractContext(user, '', contractEnv(user, '', apiPort), AbortSignal.timeout(60_000)), authState };
  return { s, user, result: await s.start(ctx).then((r) => r, (e: Error) => e) };
}

const containerOf = (serviceId: string) => docker(['ps', '-q', '--no-trunc', '--filter', `label=com.docker.swarm.service.id=${serviceId}`]);

describe('swarm spawner with sshfs volumes', () => {
  it('mounts the remote folder from auth_state both ways; restore re-attaches; stop removes service and volume', async () => {
    const { s, result } = await spawn(options(), { mount_data: mountData() });
    expect(result).not.toBeInstanceOf(Error);
    const st = s.state() as { serviceId: string; volumes: string[] };
    expect(st.volumes).toHaveLength(1);
    const container = await containerOf(st.serviceId);
    await docker(['exec', container, 'sh', '-c', 'echo from-container > /home/jovyan/work/c.txt']);
    expect(readFileSync(join(sshd.storageDir, 'c.txt'), 'utf8')).toBe('from-container\n');
    writeFileSync(join(sshd.storageDir, 's.txt'), 'from-storage');
    expect(await docker(['exec', container, 'cat', '/home/jovyan/work/s.txt'])).toBe('from-storage');

    const again = swarmSpawnerKind.create({ options: options(), user: { name: 'x', admin: false, groups: [] }, serverName: '', log: silentLog });
    again.restore(JSON.parse(JSON.stringify(s.state())));
    expect(await again.poll()).toBeNull();
    expect(await containerOf(st.serviceId)).toBe(container);

    await again.stop();
    expect(await again.poll()).not.toBeNull();
    expect(await leftovers(hubId)).toEqual({ services: [], volumes: [] });
    expect(driver.driver.list()).toEqual([]);
  }, 120_000);

  it('a wrong key fails the spawn with the driver\'s message and leaves no service or volume', async () => {
    const { result } = await spawn(options(), { mount_data: mountData(sshd.wrongClientKey) });
    expect(result).toMatchObject({ name: 'SpawnError', message: `sshfs: authentication failed for ${sshd.user}@127.0.0.1:${sshd.port}` });
    expect(await leftovers(hubId)).toEqual({ services: [], volumes: [] });
  }, 120_000);

  it('an unknown host key fails the spawn with "host key verification failed"', async () => {
    const opts = options({ sshcmd: '{USERNAME}@{HOST}:{PATH}', port: '{PORT}', id_rsa: '{PRIVATEKEY}', known_hosts: '/dev/null' });
    const { result } = await spawn(opts, { mount_data: mountData() });
    expect(result).toMatchObject({ name: 'SpawnError', message: `sshfs: host key verification failed for 127.0.0.1:${sshd.port}` });
    expect(await leftovers(hubId)).toEqual({ services: [], volumes: [] });
  }, 120_000);

  it('no mount data in auth_state fails before anything is created', async () => {
    const { result } = await spawn(options(), null);
    expect(result).toMatchObject({ name: 'SpawnError' });
    expect((result as Error).message).toMatch(/no mount credentials in auth_state.mount_data/);
    expect(await leftovers(hubId)).toEqual({ services: [], volumes: [] });
  });
});
