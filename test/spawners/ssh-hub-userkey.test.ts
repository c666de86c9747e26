/**
 * `login: user-key` inside a real hub: the key is set in the user's auth_state through the REST API
 * (stored encrypted), the hub spawns on a network-namespace host logged in as the user, the server
 * answers through atrium-proxy, and after a hub restart (no connection or tunnel left in memory)
 * the hub reads the key from auth_state again and re-attaches to the same remote process.
 */
import Database from 'better-sqlite3';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeSshConnections, sshConnections } from '../../src/spawners/ssh/index.js';
import { startTestHub, waitFor, type TestHub } from '../hub/harness.js';
import { startTestHosts, type TestHosts } from '../services/netns.js';
import { worldReadableCopy } from '../services/util.js';

const STUB = worldReadableCopy(resolve(import.meta.dirname, '../fixtures/stub-singleuser.py'));
let hosts: TestHosts;
let th: TestHub;

beforeAll(async () => {
  hosts = await startTestHosts(1);
  th = await startTestHub({
    spawner: {
      kind: 'ssh',
      ssh: {
        login: 'user-key',
        hosts: [{ name: 'nb1', address: hosts.hosts[0]!.address }],
        knownHostsFile: hosts.knownHostsFile,
        remoteUser: hosts.user,
        cmd: ['/usr/bin/python3', STUB],
        stopTimeoutSeconds: 3,
      },
      startTimeoutSeconds: 60,
    },
  });
}, 120_000);

afterAll(async () => {
  await th?.teardown();
  await closeSshConnections();
  await hosts?.stop();
});

function serverRow(): { state: Record<string, unknown>; status: string } | null {
  const db = new Database(join(th.stateDir, 'atrium.sqlite'), { readonly: true, fileMustExist: true });
  try {
    const row = db.prepare("SELECT state, status FROM servers WHERE status != 'stopped'").get() as { state: string; status: string } | undefined;
    return row ? { state: JSON.parse(row.state) as Record<string, unknown>, status: row.status } : null;
  } finally {
    db.close();
  }
}

describe('SSH spawner in the hub with per-user keys', () => {
  it('spawns as the user with the key from auth_state and re-attaches after a hub restart', async () => {
    const admin = th.token('admin');
    await (await th.api('POST', '/users/kim', { token: admin })).arrayBuffer();
    const patch = await th.api('PATCH', '/users/kim', { token: admin, body: { auth_state: { ssh_private_key: hosts.userKey } } });
    await patch.arrayBuffer();
    expect(patch.status).toBe(200);

    const start = await th.api('POST', '/users/kim/server', { token: admin });
    await start.arrayBuffer();
    expect([201, 202]).toContain(start.status);
    await waitFor(async () => serverRow()?.status === 'running', 60_000, 200);
    expect((await fetch(`${th.url}/user/kim/api/status`)).status).toBe(200);
    expect(sshConnections().map((c) => c.login.username)).toEqual([hosts.user]);
    const before = serverRow()!.state;
    expect(JSON.stringify(before)).not.toContain('PRIVATE KEY');

    // A new hub process as it would start: nothing in memory; the key comes from auth_state again.
    await th.restart(() => closeSshConnections());
    await waitFor(async () => (await fetch(`${th.url}/user/kim/api/status`)).status === 200, 60_000, 250);
    expect(serverRow()!.state).toEqual(before);
    expect(sshConnections().map((c) => c.login.username)).toEqual([hosts.user]);

    const stop = await th.api('DELETE', '/users/kim/server', { token: admin });
    await stop.arrayBuffer();
    await waitFor(async () => serverRow() === null, 30_000, 200);
    // Logged in as the user, the connection's own sshd session process runs as the user too (until
    // the idle close); nothing else may be left.
    const left = hosts.hosts[0]!.exec('sh', ['-c', `ps -o pid=,stat=,comm= -u ${hosts.user} | awk '$2 !~ /^Z/ && $3 != "sshd"' || true`]).trim();
    expect(left).toBe('');
  }, 180_000);
});
