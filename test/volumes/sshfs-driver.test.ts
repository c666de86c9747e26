/**
 * The atrium sshfs volume driver against a real sshd and real sshfs/FUSE mounts, spoken to over its
 * unix socket exactly like dockerd does (the Swarm test covers dockerd itself).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSshfsDriver, type RunningDriver } from '../../src/volumes/sshfs/main.js';
import { fuseSshfsMounts } from '../../src/volumes/sshfs/sshfs-mount.js';
import { startSshd, type SshdService } from '../services/sshd.js';
import { pluginCall } from './plugin-client.js';

let sshd: SshdService;
let driver: RunningDriver;
const work = mkdtempSync(join(tmpdir(), 'atrium-sshfs-driver-'));
const logLines: string[] = [];
const log = pino({ level: 'info' }, new Writable({ write(chunk, _enc, cb) { logLines.push(String(chunk)); cb(); } }));
const dirs = { stateDir: join(work, 'state'), keysDir: join(work, 'keys'), socketDir: join(work, 'plugins') };
const start = () => startSshfsDriver({ name: 'atrium-sshfs-t', ...dirs, knownHosts: join(work, 'known_hosts'), dockerSocket: '', log });
const call = (method: string, body?: Record<string, unknown>) => pluginCall(driver.socketPath, method, body);

beforeAll(async () => {
  sshd = await startSshd();
  writeFileSync(join(work, 'known_hosts'), readFileSync(sshd.knownHostsFile));
  driver = await start();
});
afterAll(async () => {
  // Leave nothing mounted even when a test failed half-way.
  for (const v of driver?.driver.list() ?? []) {
    for (;;) {
      const rec = driver.driver.get(v.Name);
      if ((rec.Status.refs as number) === 0) break;
      await driver.driver.unmount(v.Name, (driver.driver as any).volumes[v.Name].refs[0]);
    }
    await driver.driver.remove(v.Name).catch(() => undefined);
  }
  await driver?.close();
  await sshd?.stop();
  rmSync(work, { recursive: true, force: true });
});

const opts = (extra: Record<string, string> = {}) => ({
  sshcmd: `${sshd.user}@127.0.0.1:${sshd.storageDir}`,
  port: String(sshd.port),
  id_rsa: sshd.clientKey,
  ...extra,
});

describe('sshfs volume driver', () => {
  it('activates as a VolumeDriver with local scope', async () => {
    expect((await call('Plugin.Activate')).json.Implements).toEqual(['VolumeDriver']);
    expect((await call('VolumeDriver.Capabilities')).json.Capabilities).toEqual({ Scope: 'local' });
  });

  it('mounts with a key, both directions work, and the key lives 0600 in a 0700 dir only while mounted', async () => {
    expect((await call('VolumeDriver.Create', { Name: 'v1', Opts: opts() })).json.Err).toBe('');
    const m = await call('VolumeDriver.Mount', { Name: 'v1', ID: 'c1' });
    expect(m.status).toBe(200);
    const mp = m.json.Mountpoint as string;
    expect(fuseSshfsMounts().has(mp)).toBe(true);
    writeFileSync(join(mp, 'from-container.txt'), 'hello storage');
    expect(readFileSync(join(sshd.storageDir, 'from-container.txt'), 'utf8')).toBe('hello storage');
    expect(statSync(join(sshd.storageDir, 'from-container.txt')).uid).toBe(sshd.uid);
    writeFileSync(join(sshd.storageDir, 'from-storage.txt'), 'hello container');
    expect(readFileSync(join(mp, 'from-storage.txt'), 'utf8')).toBe('hello container');

    expect(statSync(dirs.keysDir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dirs.keysDir, 'v1.key')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dirs.stateDir, 'state.json')).mode & 0o777).toBe(0o600);

    // Reference counting: a second container keeps the mount after the first leaves.
    await call('VolumeDriver.Mount', { Name: 'v1', ID: 'c2' });
    await call('VolumeDriver.Unmount', { Name: 'v1', ID: 'c1' });
    expect(fuseSshfsMounts().has(mp)).toBe(true);
    expect((await call('VolumeDriver.Get', { Name: 'v1' })).json.Volume).toMatchObject({ Name: 'v1', Mountpoint: mp, Status: { mounted: true, refs: 1 } });
    expect((await call('VolumeDriver.Remove', { Name: 'v1' })).json.Err).toMatch(/in use/);
    await call('VolumeDriver.Unmount', { Name: 'v1', ID: 'c2' });
    expect(fuseSshfsMounts().has(mp)).toBe(false);
    expect(existsSync(join(dirs.keysDir, 'v1.key'))).toBe(false);
    expect((await call('VolumeDriver.Path', { Name: 'v1' })).json.Mountpoint).toBe('');
    expect((await call('VolumeDriver.Remove', { Name: 'v1' })).json.Err).toBe('');
    expect((await call('VolumeDriver.List')).json.Volumes).toEqual([]);
  });

  it('a wrong key fails with a clear Err and leaves no key behind', async () => {
    await call('VolumeDriver.Create', { Name: 'badkey', Opts: opts({ id_rsa: sshd.wrongClientKey }) });
    const m = await call('VolumeDriver.Mount', { Name: 'badkey', ID: 'x' });
    expect(m.status).toBe(500);
    expect(m.json.Err).toBe(`sshfs: authentication failed for ${sshd.user}@127.0.0.1:${sshd.port}`);
    expect(existsSync(join(dirs.keysDir, 'badkey.key'))).toBe(false);
    await call('VolumeDriver.Remove', { Name: 'badkey' });
  });

  it('an unknown or wrong host key fails verification; a pinned right key and the explicit opt-out work', async () => {
    await call('VolumeDriver.Create', { Name: 'pinbad', Opts: opts({ host_key: sshd.wrongHostKey }) });
    const bad = await call('VolumeDriver.Mount', { Name: 'pinbad', ID: 'x' });
    expect(bad.json.Err).toBe(`sshfs: host key verification failed for 127.0.0.1:${sshd.port}`);
    await call('VolumeDriver.Remove', { Name: 'pinbad' });

    await call('VolumeDriver.Create', { Name: 'unknown', Opts: opts({ known_hosts: '/dev/null' }) });
    expect((await call('VolumeDriver.Mount', { Name: 'unknown', ID: 'x' })).json.Err).toBe(`sshfs: host key verification failed for 127.0.0.1:${sshd.port}`);
    await call('VolumeDriver.Remove', { Name: 'unknown' });

    await call('VolumeDriver.Create', { Name: 'pinok', Opts: opts({ host_key: sshd.hostKey, known_hosts: '/dev/null' }) });
    expect((await call('VolumeDriver.Mount', { Name: 'pinok', ID: 'x' })).json.Err).toBe('');
    await call('VolumeDriver.Unmount', { Name: 'pinok', ID: 'x' });
    await call('VolumeDriver.Remove', { Name: 'pinok' });

    await call('VolumeDriver.Create', { Name: 'insecure', Opts: opts({ known_hosts: '/dev/null', StrictHostKeyChecking: 'no' }) });
    expect((await call('VolumeDriver.Mount', { Name: 'insecure', ID: 'x' })).json.Err).toBe('');
    expect(logLines.some((l) => l.includes('"level":40') && l.includes('host key checking is turned off'))).toBe(true);
    await call('VolumeDriver.Unmount', { Name: 'insecure', ID: 'x' });
    await call('VolumeDriver.Remove', { Name: 'insecure' });
  });

  it('refuses bad options at Create: missing auth, unsafe sshfs options', async () => {
    const noAuth = await call('VolumeDriver.Create', { Name: 'na', Opts: { sshcmd: 'u@h:/p' } });
    expect(noAuth.json.Err).toMatch(/id_rsa.*IdentityFile.*password/);
    const unsafe = await call('VolumeDriver.Create', { Name: 'un', Opts: opts({ ssh_command: 'touch /tmp/pwned' }) });
    expect(unsafe.json.Err).toMatch(/option 'ssh_command' is not supported/);
    expect((await call('VolumeDriver.Create', { Name: '../etc', Opts: opts() })).json.Err).toMatch(/invalid volume name/);
  });

  it('a restarted driver re-adopts a live mount from its state file and /proc/mounts', async () => {
    await call('VolumeDriver.Create', { Name: 'keep', Opts: opts() });
    const mp = (await call('VolumeDriver.Mount', { Name: 'keep', ID: 'c9' })).json.Mountpoint as string;
    await driver.close();
    driver = await start();
    expect((await call('VolumeDriver.Get', { Name: 'keep' })).json.Volume).toMatchObject({ Mountpoint: mp, Status: { mounted: true, refs: 1 } });
    expect(readFileSync(join(mp, 'from-storage.txt'), 'utf8')).toBe('hello container');
    await call('VolumeDriver.Unmount', { Name: 'keep', ID: 'c9' });
    expect(fuseSshfsMounts().has(mp)).toBe(false);
    await call('VolumeDriver.Remove', { Name: 'keep' });
  });
});
