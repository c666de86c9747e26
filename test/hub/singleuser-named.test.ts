/**
 * The injective OAuth client ids with the real jupyterhub-singleuser (Debian's 3.0): user
 * colla-x's default server (id jupyterhub-user-colla-x) and user colla's server x (id
 * jupyterhub-user-colla:x, also its token cookie's name) run at once; each completes the OAuth
 * dance and serves its API to its own user, and neither breaks the other.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, startTestHub, waitFor, type TestHub } from './harness.js';

let th: TestHub;

beforeAll(async () => {
  th = await startTestHub({
    spawner: {
      local: { cmd: ['jupyterhub-singleuser'] },
      startTimeoutSeconds: 60,
      httpTimeoutSeconds: 60,
      namedServers: { enabled: true },
    },
  });
});
afterAll(async () => {
  await th?.teardown();
});

async function dance(user: string, prefix: string, cookieName: string): Promise<Browser> {
  const b = new Browser(th.url);
  await b.login(user, 'pw', '/hub/home');
  const { res, chain } = await b.follow(`${prefix}tree`);
  expect(res.status, chain.join(' → ')).toBe(200);
  await res.arrayBuffer();
  expect(chain.some((u) => u.includes(`${prefix}oauth_callback`))).toBe(true);
  expect(b.cookie(cookieName), cookieName).toBeTruthy();
  expect((await b.request('GET', `${prefix}api/status`)).status).toBe(200);
  return b;
}

describe('real singleuser, colliding names under the old id scheme', () => {
  it('both servers run at once and each completes OAuth with its own client', async () => {
    const admin = th.token('admin');
    for (const u of ['colla-x', 'colla']) th.running.hub.stores.users.ensure(u);
    for (const path of ['/users/colla-x/server', '/users/colla/servers/x']) {
      const res = await th.api('POST', path, { token: admin });
      expect([201, 202], path).toContain(res.status);
    }
    await waitFor(() => th.running.hub.spawns.get('colla-x', '')?.phase === 'running' && th.running.hub.spawns.get('colla', 'x')?.phase === 'running', 90_000, 250);
    const a = await dance('colla-x', '/user/colla-x/', 'jupyterhub-user-colla-x');
    const c = await dance('colla', '/user/colla/x/', 'jupyterhub-user-colla:x');
    // the first server still works after the second one's login, and each refuses the other user
    expect((await a.request('GET', '/user/colla-x/api/status')).status).toBe(200);
    expect((await c.request('GET', '/user/colla/x/api/status')).status).toBe(200);
    const { res } = await c.follow('/user/colla-x/tree');
    expect(res.status).toBe(403);
  });
});
