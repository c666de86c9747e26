/**
 * A hub restart stops nobody: with three running servers the hub goes down and comes back;
 * traffic keeps flowing through the proxy meanwhile, all servers are re-attached, and a server
 * killed while the hub was down is marked stopped and loses its route.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub, waitFor, type TestHub } from './harness.js';

describe('hub restart', () => {
  let th: TestHub;
  beforeAll(async () => {
    th = await startTestHub();
  });
  afterAll(async () => {
    await th?.teardown();
  });

  const reachable = async (user: string) => {
    const r = await fetch(`${th.url}/user/${user}/env`, { redirect: 'manual' });
    await r.arrayBuffer();
    return r.status === 200;
  };

  it('re-attaches running servers and marks dead ones stopped', async () => {
    const admin = th.token('admin');
    const users = ['u1', 'u2', 'u3'];
    expect((await th.api('POST', '/users', { token: admin, body: { usernames: users } })).status).toBe(201);
    for (const u of users) {
      const r = await th.api('POST', `/users/${u}/server`, { token: admin });
      expect([201, 202]).toContain(r.status);
    }
    for (const u of users) await waitFor(() => reachable(u), 30_000);
    const pids = Object.fromEntries(
      users.map((u) => {
        const row = th.running.hub.stores.servers.get(th.running.hub.stores.users.get(u)!.id, '')!;
        return [u, (JSON.parse(row.state) as { pid: number }).pid];
      }),
    );
    const proxyPid = th.running.proxyProcess ? Number((await import('node:fs')).readFileSync(`${th.stateDir}/proxy.pid`, 'utf8')) : 0;

    await th.restart(async () => {
      // Hub is down: users keep working through the proxy.
      for (const u of users) expect(await reachable(u)).toBe(true);
      process.kill(-pids.u3!, 'SIGKILL');
      await waitFor(async () => !(await reachable('u3')), 10_000);
    });

    const hub = th.running.hub;
    expect(hub.spawns.get('u1', '')?.phase).toBe('running');
    expect(hub.spawns.get('u2', '')?.phase).toBe('running');
    expect(hub.spawns.get('u3', '')).toBeUndefined();
    expect(await reachable('u1')).toBe(true);
    expect(await reachable('u2')).toBe(true);
    // Same processes as before: re-attached, not restarted.
    for (const u of ['u1', 'u2']) {
      const row = hub.stores.servers.get(hub.stores.users.get(u)!.id, '')!;
      expect((JSON.parse(row.state) as { pid: number }).pid).toBe(pids[u]);
      expect(row.status).toBe('running');
    }
    const u3 = hub.stores.servers.get(hub.stores.users.get('u3')!.id, '')!;
    expect(u3.status).toBe('stopped');
    const routes = await hub.routes.list();
    expect(Object.keys(routes)).not.toContain('/user/u3');
    expect(Object.keys(routes)).toContain('/user/u1');
    // The proxy was adopted, not restarted.
    if (proxyPid) expect(Number((await import('node:fs')).readFileSync(`${th.stateDir}/proxy.pid`, 'utf8'))).toBe(proxyPid);
    const api = await th.api('GET', '/users/u3', { token: th.token('admin') });
    expect(((await api.json()) as { servers: Record<string, unknown> }).servers).toEqual({});
  }, 120_000);

  it('restores routes when the proxy loses its table', async () => {
    const hub = th.running.hub;
    // Simulate a proxy restart that lost everything: delete the routes behind the hub's back.
    for (const key of Object.keys(await hub.routes.list())) {
      await fetch(`${hub.config.proxy.apiUrl}/api/routes${key}`, {
        method: 'DELETE',
        headers: { Authorization: `token ${(await import('node:fs')).readFileSync(`${th.stateDir}/proxy-token`, 'utf8').trim()}` },
      });
    }
    expect(await reachable('u1')).toBe(false);
    await waitFor(() => reachable('u1'), 20_000, 200);
    await waitFor(async () => Object.keys(await hub.routes.list()).includes('/'), 10_000);
  }, 60_000);
});
