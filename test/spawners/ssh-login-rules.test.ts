/**
 * The SSH spawner's per-user login and host rules, against two real sshd hosts in network
 * namespaces (test/services/netns.ts) that cannot reach this machine except through SSH:
 * - login: user-key — the hub logs in as the user with the private key from auth_state: one
 *   connection per host and user, nothing through sudo, a restarted "hub" (connections and
 *   tunnels closed, fresh spawner) re-attaches with the key read from auth_state again; a missing,
 *   wrong or unusable key is a clear message and leaves nothing behind.
 * - hostRules — first match wins (groups, user-name pattern), the rule restricts, no match →
 *   fewest sessions over all hosts; checked at config load.
 */
import { fakeHubApi } from '../services/fake-hub-api.js';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeSshConnections, sshConnections, sshSpawnerKind, SshSpawnerOptions } from '../../src/spawners/ssh/index.js';
import { checkSshOptions } from '../../src/spawners/ssh/descriptor.js';
import { hostsFor } from '../../src/spawners/ssh/host-choice.js';
import { parseConfig } from '../../src/hub/config/loader.js';
import type { Spawner, SpawnContext } from '../../src/spawners/spawner.js';
import { startTestHosts, type TestHosts } from '../services/netns.js';
import { worldReadableCopy } from '../services/util.js';
import { contractContext, contractEnv, handleRecorder, silentLog } from './contract.js';

const STUB = worldReadableCopy(resolve(import.meta.dirname, '../fixtures/stub-singleuser.py'));

let th: TestHosts;
let api: { port: number; close(): void };
beforeAll(async () => {
  th = await startTestHosts(2);
  api = await fakeHubApi(); // the stub posts its activity there
}, 60_000);

const made: Spawner[] = [];
afterAll(async () => {
  for (const s of made) await s.stop({ immediate: true }).catch(() => undefined);
  await closeSshConnections();
  api?.close();
  await th?.stop();
});

function options(patch: Partial<SshSpawnerOptions> = {}): SshSpawnerOptions {
  return Value.Default(SshSpawnerOptions, {
    hosts: th.hosts.map((h, i) => ({ name: `h${i}`, address: h.address })),
    knownHostsFile: th.knownHostsFile,
    adminUser: 'root',
    adminKeyFile: th.adminKeyFile,
    userPrefix: ['runuser', '-u', '{username}', '--'],
    adminPrefix: [],
    remoteUser: th.user,
    cmd: ['/usr/bin/python3', STUB],
    stopTimeoutSeconds: 3,
    portTimeoutSeconds: 20,
    ...patch,
  }) as SshSpawnerOptions;
}

const uname = (tag: string) => `sl${tag}${randomBytes(3).toString('hex')}`;

function make(o: SshSpawnerOptions, name: string, authState: Record<string, unknown> | null = null): Spawner {
  const s = sshSpawnerKind.create({ options: o, user: { name, admin: false, groups: [] }, serverName: '', log: silentLog, authState: () => authState });
  made.push(s);
  return s;
}

function ctx(name: string, extra: Partial<SpawnContext> = {}) {
  const env = contractEnv(name, '', api.port);
  const rec = handleRecorder();
  return { c: { ...contractContext(name, '', env, AbortSignal.timeout(60_000), rec), ...extra }, env, rec };
}

async function get(url: string): Promise<number> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  await res.arrayBuffer();
  return res.status;
}

function tagged(tag: string): number[] {
  return th.hosts[0]!.exec('sh', ['-c', `grep -l -a 'ATRIUM_SERVER_ID=${tag}' /proc/[0-9]*/environ 2>/dev/null || true`])
    .split('\n')
    .map((l) => Number(/\/proc\/(\d+)\//.exec(l)?.[1]))
    .filter((n) => n > 0 && n !== process.pid);
}

describe('login: user-key', () => {
  it('logs in as the user with the key from auth_state, one connection per host and user, and re-attaches after a restart', async () => {
    await closeSshConnections();
    const o = options({ login: 'user-key', hosts: [{ name: 'h0', address: th.hosts[0]!.address, port: 22, hostKeys: [], acceptUnknownHostKey: false, maxSessions: 100 }] });
    const name = uname('k');
    const auth = { ssh_private_key: th.userKey };
    const logBefore = th.hosts[0]!.sshdLog().length;
    const s = make(o, name, auth);
    const { c, env, rec } = ctx(name, { authState: auth });
    const { url } = await s.start(c);
    expect(await get(`${url}${env.JUPYTERHUB_SERVICE_PREFIX}api/status`)).toBe(200);
    const log = th.hosts[0]!.sshdLog().slice(logBefore);
    expect(log).toMatch(new RegExp(`Accepted publickey for ${th.user} from`));
    expect(log).not.toMatch(/Accepted publickey for root/);
    const conns = sshConnections().filter((x) => x.host.name === 'h0');
    expect(conns.map((x) => x.login.username)).toEqual([th.user]);
    // The key is nowhere in the state the hub stores in plain text.
    expect(JSON.stringify(rec.handles)).not.toContain('PRIVATE KEY');
    expect(JSON.stringify(s.state())).not.toContain('PRIVATE KEY');

    // A new hub process: the pool and tunnels are gone; a fresh spawner reads the key again.
    const state = JSON.parse(JSON.stringify(s.state())) as Record<string, unknown>;
    await closeSshConnections();
    const again = make(o, name, auth);
    again.restore(state);
    expect(await again.poll()).toBeNull();
    expect(await get(`${url}${env.JUPYTERHUB_SERVICE_PREFIX}api/status`)).toBe(200);
    expect((again.state() as { pgid: number }).pgid).toBe((state as { pgid: number }).pgid);
    await again.stop();
    expect(tagged(rec.ownerTag)).toEqual([]);
  }, 120_000);

  it('a user connection with no server left on it is closed after userIdleCloseSeconds', async () => {
    await closeSshConnections();
    const o = options({ login: 'user-key', userIdleCloseSeconds: 1, hosts: [{ name: 'h0', address: th.hosts[0]!.address, port: 22, hostKeys: [], acceptUnknownHostKey: false, maxSessions: 100 }] });
    const name = uname('i');
    const auth = { ssh_private_key: th.userKey };
    const s = make(o, name, auth);
    const { c } = ctx(name, { authState: auth });
    await s.start(c);
    const conn = sshConnections().find((x) => x.login.username === th.user)!;
    await new Promise((r) => setTimeout(r, 1500));
    expect(conn.connected).toBe(true); // a server is on it: kept
    expect(th.hosts[0]!.sshConnections()).toBe(1);
    await s.stop();
    const t0 = Date.now();
    while (conn.connected && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 50));
    expect(conn.connected).toBe(false);
    await new Promise((r) => setTimeout(r, 300));
    expect(th.hosts[0]!.sshConnections()).toBe(0);
    console.log(`user-key: idle connection closed ${Date.now() - t0} ms after the last server stopped (userIdleCloseSeconds: 1)`);
  }, 60_000);

  it('restored without a key in auth_state: reported not running, with the reason', async () => {
    const o = options({ login: 'user-key' });
    // Not in `made`: there is no process to stop behind this made-up handle.
    const s = sshSpawnerKind.create({ options: o, user: { name: uname('r'), admin: false, groups: [] }, serverName: '', log: silentLog, authState: () => null });
    s.restore({ host: 'h0', remoteUser: th.user, tag: 'x:1:1', pgid: 999999, remotePort: 1, reversePort: 2, localPort: 3, api: { host: '127.0.0.1', port: api.port } });
    const st = await s.poll();
    expect(st?.reason).toMatch(/cannot log in to h0 as .*: no SSH key for you in auth_state\.ssh_private_key/);
  });

  it.each([
    ['no key in auth_state', () => null, /no SSH key for you in auth_state\.ssh_private_key/],
    ['a public key instead', () => ({ ssh_private_key: th.hosts[0]!.hostKey }), /cannot be read|holds a public key/],
    ['garbage', () => ({ ssh_private_key: 'not a key' }), /cannot be read/],
  ])('%s: a clear message before any connection', async (_what, authState, message) => {
    await closeSshConnections();
    const s = make(options({ login: 'user-key' }), uname('n'), authState());
    const { c, rec } = ctx('x', { authState: authState() });
    const err = (await s.start(c).then(() => null, (e: unknown) => e)) as Error;
    expect(err?.name).toBe('SpawnError');
    expect(err.message).toMatch(message);
    expect(rec.handles).toEqual([]);
    expect(sshConnections()).toEqual([]);
  });

  it('a key the host does not accept: both hosts skipped with the reason, nothing left behind', async () => {
    await closeSshConnections();
    const auth = { ssh_private_key: th.strangerKey };
    const s = make(options({ login: 'user-key' }), uname('w'), auth);
    const { c, rec } = ctx('x', { authState: auth });
    const err = (await s.start(c).then(() => null, (e: unknown) => e)) as Error;
    for (const h of ['h0', 'h1']) {
      expect(err.message).toMatch(new RegExp(`^No SSH host could be used: .*cannot connect to ${h} \\(192\\.0\\.2\\.\\d+:22\\) as ${th.user} with the key from your login: All configured authentication methods failed`));
    }
    expect(tagged(rec.ownerTag)).toEqual([]);
  }, 60_000);

  it('the sweep needs an admin login: skipped in user-key mode', async () => {
    expect(await sshSpawnerKind.sweep!({ options: options({ login: 'user-key' }), ownerPrefix: 'x:', log: silentLog })).toEqual([]);
  });
});

describe('hostRules', () => {
  const rules = [
    { groups: ['gpu-course'], hosts: ['h1'] },
    { users: '^prof-', hosts: ['h0'] },
    { users: '^both-', groups: ['staff'], hosts: ['h0', 'h1'] },
  ];

  it('first match wins; groups and users both must match when both are given; no match → all hosts', () => {
    const hosts = options().hosts;
    const pick = (name: string, groups: string[] = []) => hostsFor(hosts, rules, { name, groups });
    expect(pick('ann', ['gpu-course'])).toEqual({ hosts: [hosts[1]], rule: 0 });
    expect(pick('prof-x', ['gpu-course']).rule).toBe(0);
    expect(pick('prof-x')).toEqual({ hosts: [hosts[0]], rule: 1 });
    expect(pick('both-y').rule).toBeNull();
    expect(pick('both-y', ['staff']).rule).toBe(2);
    expect(pick('zed')).toEqual({ hosts, rule: null });
  });

  it('a spawn goes only to the rule\'s hosts (real hosts), and a rule whose hosts are all down fails saying so', async () => {
    await closeSshConnections();
    const o = options({ hostRules: rules });
    // Two "prof-" users: without the rule the second would go to the emptier h1.
    const placed: string[] = [];
    const mine: Spawner[] = [];
    for (const n of ['prof-a', 'prof-b']) {
      const name = `${n}${randomBytes(2).toString('hex')}`;
      const s = make(o, name);
      mine.push(s);
      const { c } = ctx(name);
      await s.start(c);
      placed.push((s.state() as { host: string }).host);
    }
    const gpu = make(o, uname('g'));
    mine.push(gpu);
    const { c: gc } = ctx('g', { user: { name: 'g', admin: false, groups: ['gpu-course'] } });
    await gpu.start(gc);
    placed.push((gpu.state() as { host: string }).host);
    expect(placed).toEqual(['h0', 'h0', 'h1']);
    for (const s of mine) await s.stop();

    const down = options({ hosts: [...o.hosts.slice(0, 1), { ...o.hosts[1]!, address: th.hosts[1]!.peerAddress, port: 2 }], hostRules: rules });
    const s = make(down, uname('d'));
    const { c } = ctx('d', { user: { name: 'd', admin: false, groups: ['gpu-course'] } });
    const err = (await s.start(c).then(() => null, (e: unknown) => e)) as Error;
    expect(err.message).toMatch(/No SSH host of those host rule 1 allows you \(h1\) could be used: cannot connect to h1/);
  }, 120_000);

  it('is checked at config load: unknown host, bad pattern, a rule for nobody in particular', () => {
    const problems = checkSshOptions({ hosts: [{ name: 'a' }], hostRules: [{ users: '(', hosts: ['a'] }, { hosts: ['b'] }] }, true);
    expect(problems).toEqual([
      { segments: ['hostRules', 0, 'users'], message: expect.stringMatching(/^invalid regular expression/) },
      { segments: ['hostRules', 1], message: expect.stringContaining('give users (a pattern) and/or groups') },
      { segments: ['hostRules', 1, 'hosts', 0], message: 'no host named "b" in hosts' },
    ]);
    const yaml = [
      'spawner:',
      '  kind: ssh',
      '  ssh:',
      '    hosts:',
      '      - name: nb1',
      '        address: nb1.example.org',
      '    hostRules:',
      '      - groups: [gpu]',
      '        hosts: [nb2]',
      '',
    ].join('\n');
    expect(() => parseConfig(yaml, 'atrium.yaml', {})).toThrow(/atrium\.yaml:9: spawner\.ssh\.hostRules\[0\]\.hosts\[0\]: no host named "nb2" in hosts/);
  });
});
