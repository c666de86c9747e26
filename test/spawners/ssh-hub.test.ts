/**
 * The real jupyterhub-singleuser (Debian's jupyterhub 3.0) on a network-namespace SSH host that
 * cannot reach the hub, spawned by a real hub behind atrium-proxy: login → spawn → the OAuth
 * dance through the proxy (the server's token exchange and activity reach the hub only through
 * the reverse tunnel) → notebook API → a killed SSH connection comes back → a hub restart re-attaches to the same remote process over
 * a new connection → stop leaves no process on the host.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { closeSshConnections, sshConnections } from '../../src/spawners/ssh/index.js';
import { Browser, openNotebookThroughOAuth, startTestHub, waitFor, type TestHub } from '../hub/harness.js';
import { startTestHosts, type TestHosts } from '../services/netns.js';

let hosts: TestHosts;
let th: TestHub;

function serverState(): { host: string; pgid: number; localPort: number; reversePort: number } {
  const db = new Database(join(th.stateDir, 'atrium.sqlite'), { readonly: true, fileMustExist: true });
  try {
    const row = db.prepare("SELECT state FROM servers WHERE status = 'running'").get() as { state: string } | undefined;
    return JSON.parse(row?.state ?? '{}');
  } finally {
    db.close();
  }
}

function userProcesses(): string {
  return hosts.hosts[0]!.exec('sh', ['-c', `ps -o pid=,stat=,args= -u ${hosts.user} | awk '$2 !~ /^Z/' || true`]).trim();
}

beforeAll(async () => {
  hosts = await startTestHosts(1);
  th = await startTestHub({
    spawner: {
      kind: 'ssh',
      ssh: {
        hosts: [{ name: 'nb1', address: hosts.hosts[0]!.address }],
        knownHostsFile: hosts.knownHostsFile,
        adminUser: 'root',
        adminKeyFile: hosts.adminKeyFile,
        userPrefix: ['runuser', '-u', '{username}', '--'],
        adminPrefix: [],
        remoteUser: hosts.user,
        cmd: ['jupyterhub-singleuser'],
        stopTimeoutSeconds: 5,
      },
      startTimeoutSeconds: 90,
      httpTimeoutSeconds: 90,
      environment: { JUPYTERHUB_ACTIVITY_INTERVAL: '2' },
    },
  });
}, 120_000);

afterAll(async () => {
  await th?.teardown();
  await closeSshConnections();
  await hosts?.stop();
});

describe('SSH spawner in the hub, real jupyterhub-singleuser on a namespace host', () => {
  it('OAuth through atrium-proxy and both tunnels; a hub restart re-attaches to the same process; stop leaves nothing', async () => {
    const b = new Browser(th.url);
    const login = await b.login('alice');
    expect(login.res.status).toBe(200);
    const admin = th.token('admin');
    await openNotebookThroughOAuth(th, b, 'alice', 120_000);

    const before = serverState();
    expect(before.host).toBe('nb1');
    expect(before.pgid).toBeGreaterThan(0);
    // The server's own activity reports arrive (only possible through the reverse tunnel).
    await waitFor(async () => {
      const r = await th.api('GET', '/users/alice', { token: admin });
      return ((await r.json()) as { servers: Record<string, { last_activity: string | null }> }).servers['']?.last_activity;
    }, 30_000, 250);

    // The SSH connection dies (its sshd process killed by PID): tunnels come back, same server.
    const victims = hosts.hosts[0]!.sessionPids();
    expect(victims.length).toBeGreaterThan(0);
    const t0 = Date.now();
    for (const pid of victims) process.kill(pid, 'SIGKILL');
    await waitFor(async () => {
      const r = await b.request('GET', '/user/alice/api/status').catch(() => null);
      return r?.status === 200 && sshConnections()[0]!.connects === 2;
    }, 60_000, 100);
    console.log(`ssh reconnect (real singleuser through atrium-proxy): answered again ${Date.now() - t0} ms after the connection was killed`);
    expect(serverState()).toEqual(before);

    // A hub restart, as a new process would see it: no connection, no tunnel left in memory.
    await th.restart(() => closeSshConnections());
    await waitFor(async () => (await b.request('GET', '/user/alice/api/status')).status === 200, 60_000, 250);
    const after = serverState();
    expect(after).toEqual(before);
    expect(sshConnections().map((c) => c.connects)).toEqual([1]);
    expect(userProcesses()).toContain(String(before.pgid));
    // The re-opened reverse tunnel works: the server completes OAuth for a new browser session.
    const b2 = new Browser(th.url);
    await b2.login('alice');
    const again = await b2.follow('/user/alice/tree');
    expect(again.res.status).toBe(200);
    await again.res.arrayBuffer();

    const stop = await th.api('DELETE', '/users/alice/server', { token: admin });
    expect([202, 204]).toContain(stop.status);
    await waitFor(async () => {
      const r = await th.api('GET', '/users/alice', { token: admin });
      return ((await r.json()) as { servers: Record<string, unknown> }).servers[''] === undefined;
    }, 30_000);
    expect(userProcesses()).toBe('');
  }, 300_000);
});
