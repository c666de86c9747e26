/**
 * The hub's own route comes back within about one proxy check interval when it disappears from
 * the proxy's table (an admin's mistake, another hub sharing the proxy, a proxy restarted empty
 * from outside), with and without running user servers. Before, with servers running, only a
 * random user route was probed and the hub route waited for the full reconcile (300 s).
 * Real hub process, real atrium-proxy, real REST API calls.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hubProcess, type HubProcess } from './hub-process.js';
import { waitFor } from './harness.js';

const CHECK_SECONDS = 2;

describe('the hub route deleted from the proxy', () => {
  let hp: HubProcess;
  let proxyApi: (method: string, path: string) => Promise<Response>;
  beforeAll(async () => {
    hp = await hubProcess({ proxy: { checkRunningIntervalSeconds: CHECK_SECONDS } });
    await hp.start();
    const token = readFileSync(join(hp.stateDir, 'proxy-token'), 'utf8').trim();
    const apiUrl = (hp.config.proxy as { apiUrl: string }).apiUrl;
    proxyApi = (method, path) => fetch(`${apiUrl}/api/routes${path}`, { method, headers: { Authorization: `token ${token}` } });
  });
  afterAll(async () => {
    await hp?.teardown();
  });

  const routes = async () => (await (await proxyApi('GET', '')).json()) as Record<string, { hub?: boolean }>;

  async function deleteAndTime(): Promise<number> {
    expect((await routes())['/']?.hub).toBe(true);
    const del = await proxyApi('DELETE', '/');
    await del.arrayBuffer();
    expect(del.status).toBe(204);
    const t0 = Date.now();
    expect((await routes())['/']).toBeUndefined();
    await waitFor(async () => (await routes())['/']?.hub === true, 30_000, 50);
    return (Date.now() - t0) / 1000;
  }

  it('comes back within about one check interval without running servers', async () => {
    const seconds = await deleteAndTime();
    console.log(`hub route back after ${seconds.toFixed(2)} s (no servers, check interval ${CHECK_SECONDS} s)`);
    // One interval plus the probe and reconcile themselves; the full reconcile would be 300 s.
    expect(seconds).toBeLessThan(CHECK_SECONDS * 2 + 3);
  });

  it('comes back within about one check interval while servers run', async () => {
    const admin = hp.token('admin');
    const created = await hp.api('POST', '/users', { token: admin, body: { usernames: ['alice', 'bob'] } });
    await created.arrayBuffer();
    expect(created.status).toBe(201);
    for (const user of ['alice', 'bob']) {
      const r = await hp.api('POST', `/users/${user}/server`, { token: admin });
      await r.arrayBuffer();
      expect([201, 202]).toContain(r.status);
    }
    await waitFor(async () => {
      const t = await routes();
      return Boolean(t['/user/alice'] && t['/user/bob']);
    }, 30_000);
    await sleep(CHECK_SECONDS * 1000);
    const seconds = await deleteAndTime();
    console.log(`hub route back after ${seconds.toFixed(2)} s (2 running servers, check interval ${CHECK_SECONDS} s)`);
    expect(seconds).toBeLessThan(CHECK_SECONDS * 2 + 3);
    // The user routes were never touched.
    const t = await routes();
    expect(t['/user/alice']).toBeDefined();
    expect(t['/user/bob']).toBeDefined();
  });
});
