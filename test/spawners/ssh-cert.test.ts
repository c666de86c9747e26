/**
 * login: user-cert against a real sshd in a network namespace that trusts only a user CA
 * (TrustedUserCAKeys, AuthorizedKeysFile none — no per-user key is accepted at all):
 * - hub-ca: the hub signs a short-lived certificate per connection with the CA key file; sshd
 *   logs the key id naming the Atrium user and server;
 * - auth-state: a certificate made by OpenSSH's ssh-keygen, stored in auth_state with its key;
 * - refused before any connection, with a message naming the problem, nothing on the host: an
 *   expired certificate, one not valid yet, one for another principal, one for another key;
 * - refused by sshd (a CA it does not trust): the message says what to add to sshd_config;
 * - the CA key file: refused when group/world-readable, at config check and at start.
 */
import { fakeHubApi } from '../services/fake-hub-api.js';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeSshConnections, sshConnections, sshSpawnerKind, SshSpawnerOptions } from '../../src/spawners/ssh/index.js';
import { checkSshOptions } from '../../src/spawners/ssh/descriptor.js';
import type { Spawner, SpawnContext } from '../../src/spawners/spawner.js';
import { startTestHosts, type TestHosts } from '../services/netns.js';
import { worldReadableCopy } from '../services/util.js';
import { contractContext, contractEnv, handleRecorder, silentLog } from './contract.js';

const STUB = worldReadableCopy(resolve(import.meta.dirname, '../fixtures/stub-singleuser.py'));

let th: TestHosts;
let api: { port: number; close(): void };
beforeAll(async () => {
  th = await startTestHosts(1, { userCa: true });
  api = await fakeHubApi(); // the stub posts its activity there
}, 60_000);

const made: Spawner[] = [];
afterAll(async () => {
  for (const s of made) await s.stop({ immediate: true }).catch(() => undefined);
  await closeSshConnections();
  api?.close();
  await th?.stop();
});

function options(userCert: Partial<SshSpawnerOptions['userCert']> = {}): SshSpawnerOptions {
  return Value.Default(SshSpawnerOptions, {
    login: 'user-cert',
    userCert: { caKeyFile: th.userCaKeyFile, ...userCert },
    hosts: [{ name: 'h0', address: th.hosts[0]!.address }],
    knownHostsFile: th.knownHostsFile,
    remoteUser: th.user,
    cmd: ['/usr/bin/python3', STUB],
    stopTimeoutSeconds: 3,
    portTimeoutSeconds: 20,
  }) as SshSpawnerOptions;
}

const uname = (tag: string) => `sc${tag}${randomBytes(3).toString('hex')}`;

function make(o: SshSpawnerOptions, name: string, authState: Record<string, unknown> | null = null, serverName = ''): Spawner {
  const s = sshSpawnerKind.create({ options: o, user: { name, admin: false, groups: [] }, serverName, log: silentLog, authState: () => authState });
  made.push(s);
  return s;
}

function ctx(name: string, extra: Partial<SpawnContext> = {}, serverName = '') {
  const env = contractEnv(name, serverName, api.port);
  const rec = handleRecorder();
  return { c: { ...contractContext(name, serverName, env, AbortSignal.timeout(60_000), rec), ...extra }, env, rec };
}

async function get(url: string): Promise<number> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  await res.arrayBuffer();
  return res.status;
}

/** Processes of the test user on the host, sshd's own session processes aside. */
function userProcesses(): string {
  return th.hosts[0]!.exec('sh', ['-c', `ps -o pid=,stat=,comm= -u ${th.user} | awk '$2 !~ /^Z/ && $3 != "sshd"' || true`]).trim();
}

/** A certificate for the harness's user key, made by OpenSSH's own ssh-keygen with `ca`. */
function opensshCert(args: { id: string; principals: string; validity: string; ca?: string; keyFile?: string }): string {
  const key = args.keyFile ?? join(th.dir, 'user_ed25519');
  const work = join(th.dir, `cert-${randomBytes(3).toString('hex')}`);
  copyFileSync(`${key}.pub`, `${work}.pub`);
  execFileSync('ssh-keygen', ['-q', '-s', args.ca ?? th.userCaKeyFile!, '-I', args.id, '-n', args.principals, '-V', args.validity, `${work}.pub`]);
  return readFileSync(`${work}-cert.pub`, 'utf8').trim();
}

describe('login: user-cert, source hub-ca', () => {
  it('logs in with a certificate the hub signs per connection; the key id names user and server; stop leaves nothing', async () => {
    await closeSshConnections();
    const name = uname('h');
    const logBefore = th.hosts[0]!.sshdLog().length;
    const s = make(options(), name, null, 'lab');
    const { c, env } = ctx(name, {}, 'lab');
    const { url } = await s.start(c);
    expect(await get(`${url}${env.JUPYTERHUB_SERVICE_PREFIX}api/status`)).toBe(200);
    const log = th.hosts[0]!.sshdLog().slice(logBefore);
    expect(log).toMatch(new RegExp(`Accepted publickey for ${th.user} from .*ED25519-CERT .*ID atrium user=${name} server=lab \\(serial \\d+\\) CA ED25519`));
    expect(sshConnections().map((x) => x.login.username)).toEqual([th.user]);
    expect(JSON.stringify(s.state())).not.toMatch(/PRIVATE KEY|cert-v01/);
    await s.stop();
    expect(userProcesses()).toBe('');
  }, 90_000);

  it('a CA the host does not trust: sshd refuses, and the message says what to add to sshd_config', async () => {
    await closeSshConnections();
    const other = join(th.dir, 'other_ca');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
    const s = make(options({ caKeyFile: other }), uname('o'));
    const { c, rec } = ctx('x');
    await expect(s.start(c)).rejects.toThrow(/as \S+ with your SSH certificate: All configured authentication methods failed \(the host did not accept the hub's certificate: add the public half of the hub's CA key to TrustedUserCAKeys/);
    expect(rec.handles).toEqual([]);
    expect(userProcesses()).toBe('');
  }, 60_000);

  it('the CA key file: refused when group or others may read it, at config check and at start', async () => {
    const loose = join(th.dir, 'loose_ca');
    copyFileSync(th.userCaKeyFile!, loose);
    chmodSync(loose, 0o640);
    const o = options({ caKeyFile: loose });
    const problems = checkSshOptions(o, true);
    expect(problems).toEqual([{ segments: ['userCert', 'caKeyFile'], message: expect.stringMatching(/may be read by group or others \(mode 640\); .*chmod 600/) as unknown as string }]);
    expect(checkSshOptions(options(), true)).toEqual([]);
    expect(checkSshOptions(options({ caKeyFile: join(th.dir, 'missing') }), true)[0]?.message).toMatch(/is not readable \(ENOENT\)/);
    // Loosened after start-up: the next spawn refuses to sign with it.
    const good = join(th.dir, 'ca_copy');
    copyFileSync(th.userCaKeyFile!, good);
    chmodSync(good, 0o600);
    const s = make(options({ caKeyFile: good }), uname('m'));
    chmodSync(good, 0o644);
    await expect(s.start(ctx('x').c)).rejects.toThrow(/The hub cannot sign an SSH certificate for you: the CA key .* may be read by group or others \(mode 644\)/);
  }, 30_000);
});

describe('login: user-cert, source auth-state', () => {
  it("logs in with an OpenSSH-made certificate from auth_state and re-attaches after a restart", async () => {
    await closeSshConnections();
    const name = uname('a');
    const auth = { ssh_private_key: th.userKey, ssh_certificate: opensshCert({ id: `portal-${name}`, principals: th.user, validity: '-5m:+1h' }) };
    const logBefore = th.hosts[0]!.sshdLog().length;
    const o = options({ source: 'auth-state' });
    const s = make(o, name, auth);
    const { c, env } = ctx(name, { authState: auth });
    const { url } = await s.start(c);
    expect(await get(`${url}${env.JUPYTERHUB_SERVICE_PREFIX}api/status`)).toBe(200);
    expect(th.hosts[0]!.sshdLog().slice(logBefore)).toMatch(new RegExp(`Accepted publickey for ${th.user} .*ED25519-CERT .*ID portal-${name}`));

    const state = JSON.parse(JSON.stringify(s.state())) as Record<string, unknown>;
    await closeSshConnections();
    const again = make(o, name, auth);
    again.restore(state);
    expect(await again.poll()).toBeNull();
    expect(await get(`${url}${env.JUPYTERHUB_SERVICE_PREFIX}api/status`)).toBe(200);
    await again.stop();
    expect(userProcesses()).toBe('');
  }, 90_000);

  const other = () => {
    const f = join(th.dir, `stranger-${randomBytes(2).toString('hex')}`);
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', f]);
    return f;
  };
  it.each([
    ['expired', () => ({ id: 'old', principals: th.user, validity: '20200101:20200102' }), /Your SSH certificate cannot be used: the certificate "old" has expired: valid until 2020-01-0\dT\S+ \(now 20\d\d-/],
    ['not valid yet', () => ({ id: 'early', principals: th.user, validity: '+1d:+2d' }), /the certificate "early" is not valid yet: valid from \S+ \(now \S+; check the clocks\)/],
    ['for another principal', () => ({ id: 'wrongp', principals: 'someoneelse,other2', validity: '-5m:+1h' }), /the certificate "wrongp" is for "someoneelse", "other2", not for the account "atrn\w+" on the host/],
    ['for another key', () => ({ id: 'otherkey', principals: th.user, validity: '-5m:+1h', keyFile: other() }), /the certificate "otherkey" was issued for a different key than the private key next to it/],
  ])('%s: refused before any connection with a clear message, nothing on the host', async (_what, args, message) => {
    await closeSshConnections();
    const auth = { ssh_private_key: th.userKey, ssh_certificate: opensshCert(args()) };
    const logBefore = th.hosts[0]!.sshdLog().length;
    const s = make(options({ source: 'auth-state' }), uname('r'), auth);
    const { c, rec } = ctx('x', { authState: auth });
    await expect(s.start(c)).rejects.toThrow(message);
    expect(rec.handles).toEqual([]);
    expect(th.hosts[0]!.sshdLog().slice(logBefore)).not.toMatch(/Connection from/);
    expect(sshConnections()).toEqual([]);
    expect(userProcesses()).toBe('');
  }, 30_000);

  it('no certificate, or not a certificate, in auth_state: a clear message', async () => {
    const s = make(options({ source: 'auth-state' }), uname('n'));
    await expect(s.start(ctx('x', { authState: { ssh_private_key: th.userKey } }).c)).rejects.toThrow(/no SSH certificate for you in auth_state.ssh_certificate/);
    const plain = readFileSync(join(th.dir, 'user_ed25519.pub'), 'utf8');
    const s2 = make(options({ source: 'auth-state' }), uname('n'));
    await expect(s2.start(ctx('x', { authState: { ssh_private_key: th.userKey, ssh_certificate: plain } }).c)).rejects.toThrow(/cannot be read: "ssh-ed25519" is not a certificate type/);
  }, 30_000);
});
