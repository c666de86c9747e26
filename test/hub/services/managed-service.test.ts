/**
 * A real managed JupyterHub service: test/fixtures/whoami-service.py, a tornado app using
 * HubOAuth from Debian's jupyterhub 3.0 package unchanged, started by the hub with the
 * JUPYTERHUB_* environment, reached through atrium-proxy at /services/whoami/ by a browser-like
 * client (cookie jar, redirects followed by hand): hub login → OAuth authorize → callback →
 * the service answers the logged-in user's name. Killing the process gets it restarted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, startTestHub, waitFor, type TestHub } from '../harness.js';
import { freePort } from '../../services/util.js';

const FIXTURE = new URL('../../fixtures/whoami-service.py', import.meta.url).pathname;
// Debian's python3, which has the jupyterhub package (a python3 earlier on PATH may not).

const answers = async (url: string) => (await fetch(url).catch(() => null))?.status === 200;

describe('managed service with OAuth through atrium-proxy', () => {
  let th: TestHub;
  let port: number;
  beforeAll(async () => {
    port = await freePort();
    th = await startTestHub({
      services: [
        { name: 'whoami', url: `http://127.0.0.1:${port}`, command: ['/usr/bin/python3', FIXTURE], accessUsers: ['alice'], oauthNoConfirm: true },
        { name: 'asks', url: `http://127.0.0.1:${await freePort()}`, apiToken: 'external-service-token-0123456789', accessAllUsers: true },
      ],
    });
    await waitFor(() => answers(`${th.url}/services/whoami/env`), 30_000, 200);
  });
  afterAll(async () => {
    await th?.teardown();
  });

  it('logs alice in with OAuth and answers her name', async () => {
    const b = new Browser(th.url);
    await b.login('alice');
    const { res, chain } = await b.follow('/services/whoami/');
    expect(res.status).toBe(200);
    const me = (await res.json()) as { name: string; service: string; scopes: string[] };
    expect(me).toMatchObject({ name: 'alice', service: 'whoami' });
    expect(me.scopes).toContain('access:services!service=whoami');
    expect(chain.some((u) => u.includes('/hub/api/oauth2/authorize?client_id=service-whoami'))).toBe(true);
    expect(chain.some((u) => u.includes('/services/whoami/oauth_callback?code='))).toBe(true);
    // The OAuth token is alice's, issued to the service's client.
    const alice = th.running.hub.stores.users.get('alice')!;
    expect(th.running.hub.stores.tokens.ofUser(alice.id).some((t) => t.client_id === 'service-whoami')).toBe(true);
  }, 60_000);

  it('refuses a user the service does not admit, with a page (403), not a token', async () => {
    const b = new Browser(th.url);
    await b.login('mallory');
    const { res } = await b.follow('/services/whoami/');
    expect(res.status).toBe(403);
    expect(await res.text()).toContain('You do not have permission to access Service whoami');
  }, 30_000);

  it('asks for confirmation without oauthNoConfirm; the confirmed code buys a token with the service\'s secret', async () => {
    const b = new Browser(th.url);
    await b.login('alice');
    const authorize = `/hub/api/oauth2/authorize?client_id=service-asks&redirect_uri=${encodeURIComponent('/services/asks/oauth_callback')}&response_type=code&state=x`;
    const page = await b.request('GET', authorize);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('Authorize access');
    const xsrf = /name="_xsrf" value="([^"]+)"/.exec(html)![1]!;
    const ok = await b.request('POST', authorize, { body: new URLSearchParams({ _xsrf: xsrf }).toString(), headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
    expect(ok.status).toBe(302);
    const back = new URL(ok.headers.get('location')!, th.url);
    expect(back.pathname).toBe('/services/asks/oauth_callback');
    expect(back.searchParams.get('state')).toBe('x');
    // The service trades the code with its own token as the client secret (a wrong one is refused).
    const form = (secret: string, code: string) => new URLSearchParams({ client_id: 'service-asks', client_secret: secret, grant_type: 'authorization_code', code, redirect_uri: '/services/asks/oauth_callback' }).toString();
    const post = (body: string) => fetch(`${th.url}/hub/api/oauth2/token`, { method: 'POST', body, headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
    expect((await post(form('not-the-service-token-0000', back.searchParams.get('code')!))).status).toBe(401);
    const tok = await post(form('external-service-token-0123456789', back.searchParams.get('code')!));
    expect(tok.status).toBe(200);
    const access = ((await tok.json()) as { access_token: string }).access_token;
    const me = (await (await th.api('GET', '/user', { token: access })).json()) as { name: string; scopes: string[] };
    expect(me.name).toBe('alice');
    expect(me.scopes).toContain('access:services!service=asks');
    expect(me.scopes).not.toContain('access:services!service=whoami');
  });

  it('hands the service the JupyterHub environment, and the service model shows its PID', async () => {
    const env = (await (await fetch(`${th.url}/services/whoami/env`)).json()) as Record<string, string | number | boolean>;
    expect(env).toMatchObject({
      JUPYTERHUB_SERVICE_NAME: 'whoami',
      JUPYTERHUB_SERVICE_PREFIX: '/services/whoami/',
      JUPYTERHUB_SERVICE_URL: `http://127.0.0.1:${port}`,
      JUPYTERHUB_OAUTH_CALLBACK_URL: '/services/whoami/oauth_callback',
      JUPYTERHUB_CLIENT_ID: 'service-whoami',
      JUPYTERHUB_BASE_URL: '/',
      JUPYTERHUB_HOST: '',
      JUPYTERHUB_API_URL: `${th.running.hubUrl}/hub/api`,
      has_token: true,
    });
    const admin = th.token('admin');
    const list = (await (await th.api('GET', '/services', { token: admin })).json()) as Record<string, Record<string, unknown>>;
    expect(list.whoami).toMatchObject({ kind: 'service', pid: env.pid, prefix: '/services/whoami/' });
    expect(list.asks).toMatchObject({ pid: 0, command: [] });
  });

  it('restarts the service when it dies', async () => {
    const before = th.running.hub.services!.byName.get('whoami')!.pid;
    expect(before).toBeGreaterThan(0);
    process.kill(before, 'SIGKILL');
    const after = await waitFor(() => {
      const pid = th.running.hub.services!.byName.get('whoami')!.pid;
      return pid && pid !== before ? pid : null;
    }, 15_000, 100);
    await waitFor(() => answers(`${th.url}/services/whoami/env`), 15_000, 200);
    expect(after).not.toBe(before);
  }, 30_000);

  it('stops the service by PID when the hub closes; the next hub runs it with a fresh token', async () => {
    const pid = th.running.hub.services!.byName.get('whoami')!.pid;
    await th.restart();
    const alive = (p: number) => {
      try {
        process.kill(p, 0);
        return true;
      } catch {
        return false;
      }
    };
    expect(alive(pid)).toBe(false);
    await waitFor(() => answers(`${th.url}/services/whoami/env`), 30_000, 200);
    const b = new Browser(th.url);
    await b.login('alice');
    const { res } = await b.follow('/services/whoami/');
    expect(((await res.json()) as { name: string }).name).toBe('alice');
  }, 60_000);
});
