/**
 * The SSH spawner's data mount: the user's data from a real sshd data server (test/services/
 * sshd.ts, on the hub side of the host's veth pair) mounted with the real sshfs on a network-
 * namespace host before the server starts, only the user can open it, unmounted after stop; the
 * host may reach the data server's one port and still not the hub; a wrong data-server host key
 * is refused with a clear message and leaves nothing behind.
 */
import { fakeHubApi } from '../services/fake-hub-api.js';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeSshConnections, sshSpawnerKind, SshSpawnerOptions } from '../../src/spawners/ssh/index.js';
import { checkSshOptions } from '../../src/spawners/ssh/descriptor.js';
import type { Spawner } from '../../src/spawners/spawner.js';
import { startTestHosts, type TestHost, type TestHosts } from '../services/netns.js';
import { startSshd, type SshdService } from '../services/sshd.js';
import { worldReadableCopy } from '../services/util.js';
import { contractContext, contractEnv, handleRecorder, silentLog } from './contract.js';

const STUB = worldReadableCopy(resolve(import.meta.dirname, '../fixtures/stub-singleuser.py'));

let th: TestHosts;
let host: TestHost;
let data: SshdService;
let api: { port: number; close(): void };
const ROOT = `/run/atrium-data-test-${randomBytes(3).toString('hex')}`;

beforeAll(async () => {
  th = await startTestHosts(1);
  host = th.hosts[0]!;
  data = await startSshd(host.peerAddress);
  host.allowTcpTo(host.peerAddress, data.port);
  api = await fakeHubApi(); // the stub posts its activity there
}, 60_000);

const made: Spawner[] = [];
afterAll(async () => {
  for (const s of made) await s.stop({ immediate: true }).catch(() => undefined);
  await closeSshConnections();
  api?.close();
  await data?.stop();
  await th?.stop();
  // The namespaces share this machine's file system: the (now empty) folders the mount helper
  // made are removed here; the mounts themselves lived in sshd's mount namespace, gone with it.
  rmSync(ROOT, { recursive: true, force: true });
});

function options(hostKeys: string[]): SshSpawnerOptions {
  return Value.Default(SshSpawnerOptions, {
    hosts: [{ name: 'h0', address: host.address }],
    knownHostsFile: th.knownHostsFile,
    adminUser: 'root',
    adminKeyFile: th.adminKeyFile,
    userPrefix: ['runuser', '-u', '{username}', '--'],
    adminPrefix: [],
    remoteUser: th.user,
    cmd: ['/usr/bin/python3', STUB],
    stopTimeoutSeconds: 3,
    portTimeoutSeconds: 20,
    dataMount: { root: ROOT, hostKeys, link: 'data' },
  }) as SshSpawnerOptions;
}

function mountData(): Record<string, string> {
  // As the portal header carries it: a JSON string in auth_state.mount_data.
  return { mount_data: JSON.stringify({ HOST: data.host, PORT: String(data.port), USERNAME: data.user, PATH: data.storageDir, PRIVATEKEY: data.clientKey }) };
}

async function start(o: SshSpawnerOptions, authState: Record<string, unknown> | null) {
  const name = `sd${randomBytes(3).toString('hex')}`;
  const s = sshSpawnerKind.create({ options: o, user: { name, admin: false, groups: [] }, serverName: '', log: silentLog });
  made.push(s);
  const env = contractEnv(name, '', api.port);
  const rec = handleRecorder();
  const events: string[] = [];
  const started = s.start({ ...contractContext(name, '', env, AbortSignal.timeout(60_000), rec), authState });
  const collected = (async () => {
    for await (const e of s.progress!()) events.push(e.message);
  })();
  return { s, env, rec, events, started, collected };
}

const mounts = () => host.execInSshdMounts('cat', ['/proc/self/mounts']);
const asUser = (user: string, script: string) => {
  try {
    return host.execInSshdMounts('runuser', ['-u', user, '--', 'sh', '-c', script]).trim();
  } catch (err) {
    return `FAILED ${String((err as { stderr?: Buffer }).stderr ?? err)}`;
  }
};

describe('SSH spawner: the user\'s data over sshfs', () => {
  it('the host reaches the data server\'s port and still not this machine otherwise', async () => {
    const srv = createServer((sock) => sock.end());
    await new Promise<void>((r) => srv.listen(0, host.peerAddress, r));
    const port = (srv.address() as { port: number }).port;
    try {
      const probe = (p: number) => host.exec('python3', ['-c', `import socket\ns=socket.socket(); s.settimeout(3)\ntry:\n    s.connect(("${host.peerAddress}", ${p})); print("reached")\nexcept OSError as e:\n    print("blocked")`]).trim();
      expect(probe(data.port)).toBe('reached');
      expect(probe(port)).toBe('blocked');
      // Sanity: the listener itself works from this side.
      await new Promise<void>((r, j) => { const c = connect(port, host.peerAddress, () => { c.destroy(); r(); }); c.on('error', j); });
    } finally {
      srv.close();
    }
  });

  it('mounts before the start, only the user can open it, the server sees it; stop unmounts and removes the key', async () => {
    const run = await start(options([data.hostKey]), mountData());
    const { url } = await run.started;
    await run.collected;
    expect(run.events.join('\n')).toMatch(new RegExp(`Mounting your data from ${data.host.replace(/\./g, '\\.')} on h0`));
    const mp = `${ROOT}/${th.user}/_default`;
    expect(mounts()).toMatch(new RegExp(`${data.user}@\\S+ ${mp} fuse\\.sshfs `));
    // The server's environment names it, and the home has the link.
    expect(await (await fetch(`${url}${run.env.JUPYTERHUB_SERVICE_PREFIX}api/status`)).text()).toBeTruthy();
    const pgid = (run.s.state() as { pgid: number }).pgid;
    expect(host.exec('sh', ['-c', `tr '\\0' '\\n' < /proc/${pgid}/environ | grep ^ATRIUM_DATA_DIR=`]).trim()).toBe(`ATRIUM_DATA_DIR=${mp}`);
    expect(asUser(th.user, 'readlink ~/data')).toBe(mp);
    // Written as the notebook user on the host → on the data server as the data account.
    const word = randomBytes(4).toString('hex');
    expect(asUser(th.user, `echo ${word} > ~/data/from-notebook.txt && cat ${mp}/from-notebook.txt`)).toBe(word);
    expect(readFileSync(join(data.storageDir, 'from-notebook.txt'), 'utf8').trim()).toBe(word);
    // Another account on the host cannot look in.
    expect(asUser('nobody', `ls ${mp}`)).toMatch(/^FAILED .*Permission denied/s);
    // The data key is not on any command line, and lives only in the root-only key folder.
    const cmdlines = host.execInSshdMounts('sh', ['-c', 'cat /proc/[0-9]*/cmdline 2>/dev/null | tr "\\0" " " || true']);
    expect(cmdlines).not.toContain('OPENSSH PRIVATE KEY');
    expect(host.execInSshdMounts('stat', ['-c', '%a %U', `${ROOT}/.keys`]).trim()).toBe('700 root');
    expect(run.rec.handles.some((h) => h.dataMount === mp)).toBe(true);

    await run.s.stop();
    expect(mounts()).not.toContain(mp);
    expect(host.execInSshdMounts('sh', ['-c', `ls -A ${ROOT}/.keys; test -e ${mp} && echo still-there || true`]).trim()).toBe('');
    // The data stays on the data server.
    expect(readFileSync(join(data.storageDir, 'from-notebook.txt'), 'utf8').trim()).toBe(word);
  }, 120_000);

  it('the sweep finds an orphan (its record lost) with its data mount; stopping the orphan unmounts it', async () => {
    const run = await start(options([data.hostKey]), mountData());
    await run.started;
    const mp = `${ROOT}/${th.user}/_default`;
    expect(mounts()).toContain(mp);
    const prefix = run.rec.ownerTag.slice(0, run.rec.ownerTag.indexOf(':') + 1);
    // A restarted hub with no row for this server: what restore.ts does with a swept object.
    await closeSshConnections();
    const o = options([data.hostKey]);
    const swept = await sshSpawnerKind.sweep!({ options: o, ownerPrefix: prefix, log: silentLog });
    expect(swept).toHaveLength(1);
    expect(swept[0]!.state).toMatchObject({ host: 'h0', remoteUser: th.user, tag: run.rec.ownerTag, dataMount: mp });
    expect(swept[0]!.description).toContain(`(data mount ${mp})`);
    const orphan = sshSpawnerKind.create({ options: o, user: { name: '', admin: false, groups: [] }, serverName: '', log: silentLog });
    orphan.restore(swept[0]!.state);
    expect(await orphan.poll()).toBeNull();
    await orphan.stop({ immediate: true });
    expect(mounts()).not.toContain(mp);
    expect(host.execInSshdMounts('sh', ['-c', `ls -A ${ROOT}/.keys; test -e ${mp} && echo still-there || true`]).trim()).toBe('');
    expect(await sshSpawnerKind.sweep!({ options: o, ownerPrefix: prefix, log: silentLog })).toEqual([]);
  }, 120_000);

  it('a wrong data-server host key is refused with a clear message; no mount, no server, no key left', async () => {
    const run = await start(options([th.wrongHostKey]), mountData());
    const err = (await run.started.then(() => null, (e: unknown) => e)) as Error;
    expect(err?.name).toBe('SpawnError');
    expect(err.message).toMatch(/Your data could not be mounted on h0: sshfs: host key verification failed for 192\.0\.2\.\d+:\d+/);
    expect(mounts()).not.toContain(ROOT);
    expect(host.execInSshdMounts('sh', ['-c', `ls -A ${ROOT}/.keys; ls -A ${ROOT}/${th.user}`]).trim()).toBe('');
    expect(run.rec.handles.every((h) => h.pgid === undefined || h.pgid === null)).toBe(true);
  }, 60_000);

  it('no mount details: a clear message (or no mount when optional)', async () => {
    const run = await start(options([data.hostKey]), null);
    const err = (await run.started.then(() => null, (e: unknown) => e)) as Error;
    expect(err.message).toMatch(/no mount details in auth_state\.mount_data \(log in again through the portal\)/);
    const bad = await start(options([data.hostKey]), { mount_data: { HOST: '-oProxyCommand=x', USERNAME: 'a', PATH: '/', PRIVATEKEY: 'k' } });
    expect(((await bad.started.then(() => null, (e: unknown) => e)) as Error).message).toMatch(/no usable HOST/);
    const o = options([data.hostKey]);
    const opt = await start({ ...o, dataMount: { ...o.dataMount!, optional: true } }, null);
    await opt.started;
    expect(mounts()).not.toContain(ROOT);
    await opt.s.stop();
  }, 60_000);

  it('is refused at config load with login: user-key (the mount needs root)', () => {
    expect(checkSshOptions({ hosts: [{ name: 'a' }], login: 'user-key', dataMount: {} }, true)).toEqual([
      { segments: ['dataMount'], message: expect.stringContaining('needs login: admin-sudo') },
    ]);
  });
});
