/**
 * The SSH-tunnel spawner against two real sshd hosts in network namespaces (test/services/netns.ts)
 * that cannot reach this machine except through SSH: the shared contract with the stub server,
 * then what only SSH has — the host cannot reach the hub directly, both tunnels, a killed
 * connection that comes back, a wrong host key, an unreachable host skipped, 20 spawns over one
 * connection per host, the token kept out of process lists, nothing left behind after stop.
 * The real jupyterhub-singleuser with OAuth through the proxy and a hub restart are in ssh-hub.test.ts.
 */
import { fakeHubApi } from '../services/fake-hub-api.js';
import { randomBytes } from 'node:crypto';
import { connect, createServer } from 'node:net';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeSshConnections, sshConnections, sshSpawnerKind, SshSpawnerOptions } from '../../src/spawners/ssh/index.js';
import type { ProgressEvent, Spawner } from '../../src/spawners/spawner.js';
import { Value } from '@sinclair/typebox/value';
import { startTestHosts, type TestHosts } from '../services/netns.js';
import { worldReadableCopy } from '../services/util.js';
import { contractContext, contractEnv, handleRecorder, runSpawnerContract, silentLog } from './contract.js';

const STUB = worldReadableCopy(resolve(import.meta.dirname, '../fixtures/stub-singleuser.py'));

let th: TestHosts;
const ready = (async () => {
  th = await startTestHosts(2);
})();

export function sshOptions(t: TestHosts, patch: Partial<SshSpawnerOptions> = {}): SshSpawnerOptions {
  return Value.Default(SshSpawnerOptions, {
    hosts: t.hosts.map((h, i) => ({ name: `h${i}`, address: h.address })),
    knownHostsFile: t.knownHostsFile,
    adminUser: 'root',
    adminKeyFile: t.adminKeyFile,
    userPrefix: ['runuser', '-u', '{username}', '--'],
    adminPrefix: [],
    remoteUser: t.user,
    cmd: ['/usr/bin/python3', STUB],
    stopTimeoutSeconds: 3,
    portTimeoutSeconds: 20,
    ...patch,
  }) as SshSpawnerOptions;
}

afterAll(async () => {
  await closeSshConnections();
  await th?.stop();
});

runSpawnerContract('ssh', async () => {
  await ready;
  return {
    kind: sshSpawnerKind,
    options: sshOptions(th),
    // The stub's /env check compares JUPYTERHUB_SERVICE_URL's port with the URL start() resolves
    // with; here they differ by design (the server binds the host's loopback, the URL is the
    // tunnel's local end), so the env checks run in this file instead.
    stub: false,
    startTimeoutMs: 60_000,
    failingOptions: sshOptions(th, { cmd: ['/bin/sh', '-c', 'echo boom >&2; exit 3'] }),
    neverReadyOptions: sshOptions(th, { cmd: ['sleep', '600'], args: [] }),
  };
});

const made: Spawner[] = [];
afterAll(async () => {
  for (const s of made) await s.stop({ immediate: true }).catch(() => undefined);
});

const uname = (tag: string) => `ss${tag}${randomBytes(3).toString('hex')}`;

function make(o: SshSpawnerOptions, name = uname('u'), serverName = ''): { s: Spawner; name: string } {
  const s = sshSpawnerKind.create({ options: o, user: { name, admin: false, groups: [] }, serverName, log: silentLog });
  made.push(s);
  return { s, name };
}

async function begin(s: Spawner, name: string, apiPort: number, serverName = '') {
  const env = contractEnv(name, serverName, apiPort);
  const ac = new AbortController();
  const rec = handleRecorder();
  const events: ProgressEvent[] = [];
  const started = s.start(contractContext(name, serverName, env, ac.signal, rec));
  const collected = (async () => {
    for await (const e of s.progress!()) events.push(e);
  })();
  return { started, ac, env, events, rec, collected };
}

async function get(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  return { status: res.status, body: await res.text() };
}

async function until(check: () => Promise<boolean> | boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Processes of the test user on the (shared) machine that carry an owner tag. */
function taggedProcesses(tag: string): number[] {
  return th.hosts[0]!.exec('sh', ['-c', `grep -l -a 'ATRIUM_SERVER_ID=${tag}' /proc/[0-9]*/environ 2>/dev/null || true`])
    .split('\n')
    .map((l) => Number(/\/proc\/(\d+)\//.exec(l)?.[1]))
    .filter((n) => n > 0 && n !== process.pid);
}

describe('SSH spawner on network-namespace hosts', () => {
  let api: Awaited<ReturnType<typeof fakeHubApi>>;
  beforeAll(async () => {
    await ready;
    api = await fakeHubApi();
  });
  afterAll(() => api?.close());

  it('a host cannot reach this machine directly (probe from inside the namespace)', async () => {
    for (const h of th.hosts) {
      // A listener on this machine's end of the veth pair: reachable from here, not from the host.
      const srv = createServer((sock) => sock.end());
      await new Promise<void>((r) => srv.listen(0, h.peerAddress, r));
      const port = (srv.address() as { port: number }).port;
      try {
        const ok = await new Promise<boolean>((r) => {
          const c = connect(port, h.peerAddress, () => { c.destroy(); r(true); });
          c.on('error', () => r(false));
        });
        expect(ok).toBe(true);
        const probe = `import socket
s=socket.socket(); s.settimeout(3)
try:
    s.connect(("${h.peerAddress}", ${port})); print("reached")
except OSError as e:
    print("blocked", e)`;
        const out = h.exec('python3', ['-c', probe]).trim();
        expect(out, `${h.ns}: ${out}`).toMatch(/^blocked/);
      } finally {
        srv.close();
      }
    }
  });

  it('serves through the forward tunnel; the server reaches the hub only through the reverse tunnel; token not in any process list', async () => {
    const { s, name } = make(sshOptions(th));
    const b = await begin(s, name, api.port);
    const { url } = await b.started;
    await b.collected;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const env = JSON.parse((await get(`${url}${b.env.JUPYTERHUB_SERVICE_PREFIX}env`)).body) as Record<string, string>;
    const st = s.state() as { reversePort: number; remotePort: number; pgid: number; host: string };
    expect(env.JUPYTERHUB_USER).toBe(name);
    expect(env.JUPYTERHUB_API_TOKEN).toBe(b.env.JUPYTERHUB_API_TOKEN);
    expect(env.JUPYTERHUB_API_URL).toBe(`http://127.0.0.1:${st.reversePort}/hub/api`);
    expect(env.JUPYTERHUB_SERVICE_URL).toBe(`http://127.0.0.1:0${b.env.JUPYTERHUB_SERVICE_PREFIX}`);
    // The stub reports activity once at start: it arrives here through the reverse tunnel.
    await until(() => api.hits.some((h) => h.includes(`/users/${name}/activity`)), 10_000, 'activity through the reverse tunnel');
    // Listening sockets on the host: the server and the reverse tunnel on loopback only.
    const host = th.hosts[st.host === 'h0' ? 0 : 1]!;
    const listen = host.exec('ss', ['-Htln']);
    for (const port of [st.remotePort, st.reversePort]) {
      const lines = listen.split('\n').filter((l) => new RegExp(`:${port}\\s`).test(l));
      expect(lines.length, `port ${port}: ${listen}`).toBeGreaterThan(0);
      for (const l of lines) expect(l).toMatch(/127\.0\.0\.1:|\[::1\]:/);
    }
    // The token is in no command line on the machine (launcher, server, sshd children).
    const cmdlines = host.exec('sh', ['-c', 'cat /proc/[0-9]*/cmdline 2>/dev/null | tr "\\0" " " || true']);
    expect(cmdlines).not.toContain(b.env.JUPYTERHUB_API_TOKEN);
    const progress = b.events.map((e) => e.message).join(' | ');
    expect(progress).toMatch(/Connecting to h\d/);
    expect(progress).toMatch(/Starting the server/);
    expect(progress).toMatch(/Tunnelling/);
    expect(progress).toMatch(/Waiting for the server/);
    await s.stop();
    expect(taggedProcesses(b.rec.ownerTag)).toEqual([]);
  }, 120_000);

  it('a killed SSH connection comes back and the server answers again through the rebuilt tunnels', async () => {
    const { s, name } = make(sshOptions(th));
    const b = await begin(s, name, api.port);
    const { url } = await b.started;
    const prefix = b.env.JUPYTERHUB_SERVICE_PREFIX!;
    const st = s.state() as { host: string; pgid: number };
    const host = th.hosts[st.host === 'h0' ? 0 : 1]!;
    expect((await get(`${url}${prefix}api/status`)).status).toBe(200);
    const conn = sshConnections().find((c) => c.host.name === st.host)!;
    const before = conn.connects;
    const victims = host.sessionPids();
    expect(victims.length).toBeGreaterThan(0);
    const t0 = Date.now();
    for (const pid of victims) process.kill(pid, 'SIGKILL');
    // Answers again: a new connection, the same process.
    await until(async () => {
      try {
        return (await get(`${url}${prefix}api/status`)).status === 200 && conn.connects > before;
      } catch {
        return false;
      }
    }, 30_000, 'the server through a new connection');
    const ms = Date.now() - t0;
    console.log(`ssh reconnect: the server answered again ${ms} ms after the connection was killed`);
    expect((s.state() as { pgid: number }).pgid).toBe(st.pgid);
    expect(await s.poll()).toBeNull();
    // The reverse tunnel is back on the same remote port: the server's hub calls work again.
    const env = JSON.parse((await get(`${url}${prefix}env`)).body) as Record<string, string>;
    const viaTunnel = `import urllib.request;print(urllib.request.urlopen("${env.JUPYTERHUB_API_URL}/users/${name}/activity", data=b"{}", timeout=5).status)`;
    expect((await host.run('runuser', ['-u', th.user, '--', 'python3', '-c', viaTunnel])).trim()).toBe('200');
    await s.stop();
    expect(taggedProcesses(b.rec.ownerTag)).toEqual([]);
  }, 120_000);

  it('a wrong host key is refused with a clear message and nothing runs on the host', async () => {
    const o = sshOptions(th, { hosts: [{ name: 'h0', address: th.hosts[0]!.address, port: 22, hostKeys: [th.wrongHostKey], acceptUnknownHostKey: false, maxSessions: 100 }] });
    await closeSshConnections();
    const logBefore = th.hosts[0]!.sshdLog().length;
    const { s, name } = make(o);
    const b = await begin(s, name, api.port);
    const err = (await b.started.then(() => null, (e: unknown) => e)) as Error;
    expect(err?.name).toBe('SpawnError');
    expect(err.message).toMatch(/host key of h0 \(192\.0\.2\.\d+:22\) does not match the pinned host keys: it offered SHA256:\S+, expected SHA256:/);
    expect(b.rec.handles).toEqual([]);
    expect(taggedProcesses(b.rec.ownerTag)).toEqual([]);
    // The client gave up at the key exchange: no login ever happened.
    expect(th.hosts[0]!.sshdLog().slice(logBefore)).not.toMatch(/Accepted publickey/);
    expect(await s.poll()).not.toBeNull();
  }, 60_000);

  it('an unknown host key (not in known_hosts) is refused too', async () => {
    await closeSshConnections();
    const o = sshOptions(th, { knownHostsFile: th.adminKeyFile + '.pub' });
    const { s, name } = make(o);
    const err = (await (await begin(s, name, api.port)).started.then(() => null, (e: unknown) => e)) as Error;
    expect(err.message).toMatch(/host key of h0 .* is unknown: it is not in .*admin_ed25519\.pub/);
  }, 60_000);

  it('a host that is down is skipped with a progress message; the spawn goes to the next one', async () => {
    await closeSshConnections();
    const o = sshOptions(th);
    // A first host whose address answers nothing: the hub side of the veth pair has no sshd.
    o.hosts = [{ ...o.hosts[0]!, name: 'down', address: th.hosts[0]!.peerAddress, port: 2 }, o.hosts[1]!];
    const { s, name } = make(o);
    const b = await begin(s, name, api.port);
    await b.started;
    await b.collected;
    expect((s.state() as { host: string }).host).toBe('h1');
    expect(b.events.map((e) => e.message).join('\n')).toMatch(/Host down is not available \(cannot connect to down .*\); trying the next one/);
    await s.stop();
  }, 60_000);

  it('20 concurrent spawns share one SSH connection per host and spread over both hosts; stop leaves nothing', async () => {
    await closeSshConnections();
    const o = sshOptions(th);
    const all = Array.from({ length: 20 }, () => make(o));
    const runs = await Promise.all(all.map(({ s, name }) => begin(s, name, api.port)));
    const urls = await Promise.all(runs.map((r) => r.started.then((x) => x.url)));
    expect(new Set(urls).size).toBe(20);
    for (const [i, u] of urls.entries()) {
      const env = JSON.parse((await get(`${u}${runs[i]!.env.JUPYTERHUB_SERVICE_PREFIX}env`)).body) as Record<string, string>;
      expect(env.JUPYTERHUB_USER).toBe(all[i]!.name);
    }
    const perHost = th.hosts.map((h) => h.sshConnections());
    console.log(`20 spawns: established ssh connections per host ${perHost.join(', ')}; servers per host ${['h0', 'h1'].map((n) => all.filter(({ s }) => (s.state() as { host: string }).host === n).length).join(', ')}`);
    expect(perHost).toEqual([1, 1]);
    for (const n of ['h0', 'h1']) expect(all.filter(({ s }) => (s.state() as { host: string }).host === n).length).toBe(10);
    await Promise.all(all.map(({ s }) => s.stop()));
    for (const r of runs) expect(taggedProcesses(r.rec.ownerTag)).toEqual([]);
    // Zombies are left out: a stopped server is reparented to init, which may reap it late here.
    const left = th.hosts[0]!.exec('sh', ['-c', `ps -o pid=,stat=,args= -u ${th.user} | awk '$2 !~ /^Z/' || true`]).trim();
    expect(left).toBe('');
  }, 240_000);
});
