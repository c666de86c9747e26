/**
 * The real jupyterhub-singleuser (Debian's jupyterhub 3.0) started by the local spawner behind
 * a proxy: HTTP login with a cookie jar → start → OAuth dance → /user/NAME/api/status 200 →
 * activity reaches the hub → stop. Run once behind atrium-proxy (child) and once behind the real
 * configurable-http-proxy as an external proxy.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, startTestHub, waitFor, type TestHub } from './harness.js';
import { freePort, startProcess, waitForPort, type Started } from '../services/util.js';

const CHP = new URL('../../node_modules/configurable-http-proxy/bin/configurable-http-proxy', import.meta.url).pathname;

const realServer = {
  spawner: {
    local: { cmd: ['jupyterhub-singleuser'] },
    startTimeoutSeconds: 60,
    httpTimeoutSeconds: 60,
    environment: { JUPYTERHUB_ACTIVITY_INTERVAL: '2' },
  },
};

async function activityPosts(th: TestHub): Promise<number> {
  const text = await th.running.hub.metrics.registry.metrics();
  const m = /atrium_api_request_duration_seconds_count\{[^}]*route="\/hub\/api\/users\/:name\/activity"[^}]*code="200"[^}]*\} (\d+)/.exec(text);
  return m ? Number(m[1]) : 0;
}

function flow(name: string, setup: () => Promise<TestHub>) {
  describe(name, () => {
    let th: TestHub;
    beforeAll(async () => {
      th = await setup();
    });
    afterAll(async () => {
      await th?.teardown();
    });

    it('logs in, spawns, completes OAuth, serves the notebook API, reports activity, stops', async () => {
      const b = new Browser(th.url);
      const login = await b.login('alice');
      // After login the hub spawns and lands on the pending page (or the server if it was quick).
      expect(login.res.status).toBe(200);
      const admin = th.token('admin');
      await waitFor(async () => {
        const r = await th.api('GET', '/users/alice', { token: admin });
        const u = (await r.json()) as { servers: Record<string, { ready: boolean }> };
        return u.servers['']?.ready;
      }, 90_000, 250);

      // The OAuth dance: /user/alice/tree → hub authorize → callback → tree, with cookies.
      const { res, chain } = await b.follow('/user/alice/tree');
      expect(res.status).toBe(200);
      expect(chain.some((u) => u.includes('/hub/api/oauth2/authorize'))).toBe(true);
      expect(chain.some((u) => u.includes('/user/alice/oauth_callback'))).toBe(true);
      await res.arrayBuffer();
      expect(b.cookie('jupyterhub-user-alice')).toBeTruthy();

      const status = await b.request('GET', '/user/alice/api/status');
      expect(status.status).toBe(200);
      expect(await status.json()).toHaveProperty('started');

      // Without the OAuth cookie another browser is sent to log in, never served.
      const stranger = new Browser(th.url);
      const anon = await stranger.request('GET', '/user/alice/api/status');
      expect([302, 403]).toContain(anon.status);

      // bob may not use alice's server: the authorize step refuses him.
      const bob = new Browser(th.url);
      await bob.login('bob');
      const { res: bobRes } = await bob.follow('/user/alice/tree');
      expect(bobRes.status).toBe(403);

      await waitFor(async () => (await activityPosts(th)) >= 2, 30_000, 250);

      const stop = await th.api('DELETE', '/users/alice/server', { token: admin });
      expect([202, 204]).toContain(stop.status);
      await waitFor(async () => {
        const r = await th.api('GET', '/users/alice', { token: admin });
        return ((await r.json()) as { servers: Record<string, unknown> }).servers[''] === undefined;
      }, 30_000);
      const after = await b.request('GET', '/user/alice/api/status');
      expect(after.status).not.toBe(200);
    }, 180_000);
  });
}

flow('behind atrium-proxy (child process)', () => startTestHub(realServer));

let chp: Started | undefined;
flow('behind the real configurable-http-proxy (external)', async () => {
  const [port, apiPort] = [await freePort(), await freePort()];
  const token = 'chp-test-token-' + Math.random().toString(36).slice(2);
  chp = startProcess(process.execPath, [CHP, '--ip', '127.0.0.1', '--port', String(port), '--api-ip', '127.0.0.1', '--api-port', String(apiPort), '--log-level', 'warn'], {
    env: { ...process.env, CONFIGPROXY_AUTH_TOKEN: token },
  });
  await waitForPort(apiPort);
  const th = await startTestHub({
    ...realServer,
    proxy: { external: true, authToken: token, port, apiUrl: `http://127.0.0.1:${apiPort}` },
  });
  const teardown = th.teardown.bind(th);
  th.teardown = async () => {
    await teardown();
    await chp?.stop();
  };
  return th;
});
