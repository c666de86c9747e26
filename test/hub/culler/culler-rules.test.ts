/**
 * The culler's rules with stub servers behind a real atrium-proxy (fast; the real-singleuser
 * test covers kernels): proxy traffic keeps a server alive, admins are spared, named servers are
 * removed with removeNamedServers, inactive users are deleted with cullUsers, maxAgeSeconds stops
 * even a used server, and a server that cannot be asked about kernels (the stub has no
 * /api/kernels) is judged on recorded activity.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub, waitFor, type TestHub } from '../harness.js';

describe('idle culler rules', () => {
  let th: TestHub;
  let admin: string;
  let traffic: NodeJS.Timeout | undefined;
  beforeAll(async () => {
    th = await startTestHub({
      spawner: { namedServers: { enabled: true } },
      culler: { enabled: true, timeoutSeconds: 2, intervalSeconds: 3600, removeNamedServers: true, cullUsers: true },
    });
    admin = th.token('admin');
    for (const [u, path] of [['ann', '/users/ann/server'], ['ben', '/users/ben/servers/lab'], ['cat', '/users/cat/server'], ['admin', '/users/admin/server']] as const) {
      th.token(u);
      expect([201, 202]).toContain((await th.api('POST', path, { token: admin })).status);
    }
    await waitFor(() => ['ann/', 'ben/lab', 'cat/', 'admin/'].every((k) => th.running.hub.spawns.active.get(k)?.phase === 'running'), 20_000);
  });
  afterAll(async () => {
    if (traffic) clearInterval(traffic);
    await th?.teardown();
  });

  it('culls idle servers and users, spares admins and servers used through the proxy', async () => {
    // cat's browser keeps talking to her server through the proxy.
    traffic = setInterval(() => void fetch(`${th.url}/user/cat/api/status`).then((r) => r.arrayBuffer(), () => undefined), 300);
    await new Promise((r) => setTimeout(r, 3500));
    const verdicts = await th.running.culler!.runOnce();
    const by = Object.fromEntries(verdicts.map((v) => [`${v.user}/${v.server}`, v]));
    expect(by['ann/']).toMatchObject({ outcome: 'culled', reason: 'idle' });
    expect(by['ben/lab']).toMatchObject({ outcome: 'culled', reason: 'idle' });
    expect(by['cat/']).toMatchObject({ outcome: 'active' });
    expect(by['cat/']!.idleSeconds).toBeLessThan(2);
    expect(by['admin/']).toMatchObject({ outcome: 'skipped_admin' });
    const { stores, spawns } = th.running.hub;
    expect(spawns.get('ann', '')).toBeUndefined();
    expect(spawns.get('cat', '')?.phase).toBe('running');
    // removeNamedServers and cullUsers: ann and ben had nothing left running and no recent activity.
    expect(stores.users.get('ann')).toBeUndefined();
    expect(stores.users.get('ben')).toBeUndefined();
    expect(stores.users.get('cat')).toBeDefined();
    expect(stores.users.get('admin')).toBeDefined();
    const text = await th.running.hub.metrics.registry.metrics();
    expect(text).toMatch(/atrium_culler_culled_total\{kind="server",reason="idle"\} 2/);
    expect(text).toMatch(/atrium_culler_culled_total\{kind="user",reason="inactive_user"\} 2/);
    expect(text).toMatch(/atrium_culler_servers_inspected_total\{outcome="skipped_admin"\} 1/);
  }, 30_000);

  it('maxAgeSeconds stops a server however much it is used', async () => {
    const hub = th.running.hub;
    // As a SIGHUP reload would: the culler reads its settings at every round.
    hub.config = { ...hub.config, culler: { ...hub.config.culler, maxAgeSeconds: 1 } };
    const verdicts = await th.running.culler!.runOnce();
    expect(verdicts.find((v) => v.user === 'cat')).toMatchObject({ outcome: 'culled', reason: 'max_age' });
    expect(hub.spawns.get('cat', '')).toBeUndefined();
    // cat was active a moment ago: she keeps her account.
    expect(hub.stores.users.get('cat')).toBeDefined();
    expect(await hub.metrics.registry.metrics()).toMatch(/atrium_culler_culled_total\{kind="server",reason="max_age"\} 1/);
  }, 30_000);
});

describe('a server too busy to answer the kernel question', () => {
  let th: TestHub;
  let pid = 0;
  beforeAll(async () => {
    th = await startTestHub({
      spawner: { local: { stopGraceSeconds: 0.5 } },
      culler: { enabled: true, timeoutSeconds: 1, intervalSeconds: 3600 },
    });
    const admin = th.token('admin');
    th.token('eve');
    expect([201, 202]).toContain((await th.api('POST', '/users/eve/server', { token: admin })).status);
    await waitFor(() => th.running.hub.spawns.get('eve', '')?.phase === 'running', 20_000);
  });
  afterAll(async () => {
    if (pid) {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        /* gone */
      }
    }
    await th?.teardown();
  });

  it('is spared for two rounds, then judged on recorded activity', async () => {
    const hub = th.running.hub;
    const row = hub.stores.servers.get(hub.stores.users.get('eve')!.id, '')!;
    pid = (JSON.parse(row.state) as { pid: number }).pid;
    // A frozen process accepts connections (the kernel queue) but never answers: a timeout.
    process.kill(pid, 'SIGSTOP');
    const culler = th.running.culler!;
    culler.probeTimeoutMs = 300;
    await new Promise((r) => setTimeout(r, 1500));
    expect((await culler.runOnce())[0]).toMatchObject({ user: 'eve', outcome: 'no_answer' });
    expect((await culler.runOnce())[0]).toMatchObject({ user: 'eve', outcome: 'no_answer' });
    expect(hub.spawns.get('eve', '')?.phase).toBe('running');
    expect((await culler.runOnce())[0]).toMatchObject({ user: 'eve', outcome: 'culled', reason: 'idle' });
    expect(hub.spawns.get('eve', '')).toBeUndefined();
    expect(await hub.metrics.registry.metrics()).toMatch(/atrium_culler_servers_inspected_total\{outcome="no_answer"\} 2/);
  }, 30_000);
});
