/**
 * Server start/stop through the API (contracts §2.4, §2.7), limits, the progress event stream
 * (§2.5), and the OAuth provider the single-user servers use (§1.5.4, §1.6).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, startTestHub, waitFor, type TestHub } from '../harness.js';

const DISPATCH = new URL('./dispatch-stub.mjs', import.meta.url).pathname;
let th: TestHub;
let admin: string;
let gateDir: string;

beforeAll(async () => {
  gateDir = mkdtempSync(join(tmpdir(), 'atrium-gate-'));
  th = await startTestHub({
    spawner: {
      local: { cmd: ['node', DISPATCH] },
      environment: { GATE_DIR: gateDir },
      slowSpawnTimeoutSeconds: 2,
      concurrentSpawnLimit: 1,
      activeServerLimit: 3,
      namedServers: { enabled: true, limitPerUser: 2 },
    },
  });
  admin = th.token('admin');
});
afterAll(async () => {
  // Let any gated server go so teardown can stop it.
  for (const u of ['gatekeeper', 'gatefail']) writeFileSync(join(gateDir, u), '');
  await th?.teardown();
  rmSync(gateDir, { recursive: true, force: true });
});

async function json(res: Response): Promise<any> {
  const text = await res.text();
  return text ? JSON.parse(text) : null;
}
const open = (user: string) => writeFileSync(join(gateDir, user), '');
const running = (user: string, server = '') => th.running.hub.spawns.get(user, server)?.phase === 'running';
const inactive = (user: string, server = '') => !th.running.hub.spawns.get(user, server);

/** Read an SSE response to its end; returns the raw text. */
async function readStream(res: Response, onChunk?: (text: string) => void): Promise<string> {
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let text = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return text;
    text += dec.decode(value, { stream: true });
    onChunk?.(text);
  }
}
const events = (text: string) =>
  text
    .split('\n\n')
    .filter((b) => b.startsWith('data: '))
    .map((b) => JSON.parse(b.slice(6)));

async function startOk(user: string, server = '') {
  const path = server ? `/users/${user}/servers/${server}` : `/users/${user}/server`;
  const res = await th.api('POST', path, { token: admin });
  expect([201, 202], await res.clone().text()).toContain(res.status);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
  expect(await res.text()).toBe('');
  await waitFor(() => running(user, server));
}

describe('start and stop', () => {
  it('starts the default server: 201/202, text/plain, empty; the model shows it', async () => {
    th.token('alice');
    await startOk('alice');
    const u = await json(await th.api('GET', '/users/alice', { token: admin }));
    expect(u.server).toBe('/user/alice/');
    expect(u.servers['']).toMatchObject({ name: '', ready: true, pending: null, stopped: false, url: '/user/alice/', progress_url: '/hub/api/users/alice/server/progress' });
    // reachable through the proxy
    const env = await json(await fetch(`${th.url}/user/alice/env`));
    expect(env.JUPYTERHUB_USER).toBe('alice');
  });

  it('already running → 400', async () => {
    const res = await th.api('POST', '/users/alice/server', { token: admin });
    expect(res.status).toBe(400);
    expect((await json(res)).message).toBe('alice/ is already running');
  });

  it('the user may start and stop their own; another user may not (404)', async () => {
    const bob = th.token('bob');
    expect((await th.api('DELETE', '/users/alice/server', { token: bob })).status).toBe(404);
    expect((await th.api('POST', '/users/alice/servers/x', { token: bob })).status).toBe(404);
    expect(running('alice')).toBe(true);
  });

  it('progress of a running server: keepalive then a single ready event', async () => {
    const res = await th.api('GET', '/users/alice/server/progress', { token: admin });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const text = await readStream(res);
    expect(text.startsWith('\n\n')).toBe(true);
    expect(events(text)).toEqual([
      { progress: 100, ready: true, message: 'Server ready at /user/alice/', html_message: 'Server ready at <a href="/user/alice/">/user/alice/</a>', url: '/user/alice/' },
    ]);
  });

  it('stop: 204 text/plain empty; again 204; progress then 400', async () => {
    let res = await th.api('DELETE', '/users/alice/server', { token: admin });
    expect(res.status).toBe(204);
    expect(await res.text()).toBe('');
    expect(inactive('alice')).toBe(true);
    res = await th.api('DELETE', '/users/alice/server', { token: admin });
    expect(res.status).toBe(204);
    res = await th.api('GET', '/users/alice/server/progress', { token: admin });
    expect(res.status).toBe(400);
    expect((await th.api('GET', '/users/nobody-here/server/progress', { token: admin })).status).toBe(404);
    // the route is gone: /user/alice/ falls back to the hub
    const r = await fetch(`${th.url}/user/alice/env`, { redirect: 'manual' });
    expect(r.status).toBe(302);
  });

  it('unknown user → 404; bad options body → 400', async () => {
    expect((await th.api('POST', '/users/nobody-here/server', { token: admin })).status).toBe(404);
    expect((await th.api('POST', '/users/alice/server', { token: admin, body: '[1,2]' })).status).toBe(400);
    expect((await th.api('POST', '/users/alice/server', { token: admin, body: '{nope' })).status).toBe(400);
    expect(inactive('alice')).toBe(true);
  });
});

describe('named servers', () => {
  it('start, stop, remove; per-user limit; bad names leave nothing behind', async () => {
    await startOk('alice', 'nb1');
    const u = await json(await th.api('GET', '/users/alice', { token: admin }));
    expect(u.servers.nb1).toMatchObject({ url: '/user/alice/nb1/', progress_url: '/hub/api/users/alice/servers/nb1/progress' });
    expect((await th.api('DELETE', '/users/alice/servers/nb1', { token: admin })).status).toBe(204);
    await startOk('alice', 'nb2');
    expect((await th.api('DELETE', '/users/alice/servers/nb2', { token: admin })).status).toBe(204);
    const res = await th.api('POST', '/users/alice/servers/nb3', { token: admin });
    expect(res.status).toBe(400);
    expect((await json(res)).message).toMatch(/2 named servers and the limit is 2\. Delete one on your home page/);
    // remove nb1, then nb3 fits
    expect((await th.api('DELETE', '/users/alice/servers/nb1', { token: admin, body: { remove: true } })).status).toBe(204);
    expect((await th.api('DELETE', '/users/alice/servers/nb1', { token: admin })).status).toBe(404);
    expect((await th.api('DELETE', '/users/alice/server', { token: admin, body: { remove: true } })).status).toBe(400);
    await startOk('alice', 'nb3');
    expect((await th.api('DELETE', '/users/alice/servers/nb3', { token: admin })).status).toBe(204);

    const aliceId = th.running.hub.stores.users.get('alice')!.id;
    const rowsBefore = th.running.hub.stores.servers.ofUser(aliceId).length;
    for (const bad of ['a%2Fb', '%20lead', 'x%00y']) {
      const r = await th.api('POST', `/users/alice/servers/${bad}`, { token: admin });
      expect(r.status, bad).toBe(400);
    }
    expect(th.running.hub.stores.servers.ofUser(aliceId).length).toBe(rowsBefore);
  });
});

describe('failing spawns and progress', () => {
  it('a spawn that fails at once: 500 with the reason; progress replays a failed event', async () => {
    th.token('failer');
    const res = await th.api('POST', '/users/failer/server', { token: admin });
    expect(res.status).toBe(500);
    const body = await json(res);
    expect(body.message).toMatch(/exited/);
    expect(body.message).not.toMatch(/node:internal|\.ts:\d/);
    expect(inactive('failer')).toBe(true);
    const p = await th.api('GET', '/users/failer/server/progress', { token: admin });
    expect(p.status).toBe(200);
    const text = await readStream(p);
    expect(text.startsWith('\n\n')).toBe(true);
    const ev = events(text);
    expect(ev).toHaveLength(1);
    expect(ev[0]).toMatchObject({ progress: 100, failed: true });
    expect(ev[0].message).toMatch(/^Spawn failed: .*exited/);
  });

  it('pending spawn: 202; concurrent limit → 429 with Retry-After; stream ends with ready', async () => {
    th.token('gatekeeper');
    const res = await th.api('POST', '/users/gatekeeper/server', { token: admin });
    expect(res.status).toBe(202);
    expect(await res.text()).toBe('');
    // again while pending: 202
    expect((await th.api('POST', '/users/gatekeeper/server', { token: admin })).status).toBe(202);
    // another spawn: throttled
    th.token('bob');
    const thr = await th.api('POST', '/users/bob/server', { token: admin });
    expect(thr.status).toBe(429);
    expect(Number(thr.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(inactive('bob')).toBe(true);
    // the model says pending
    const m = await json(await th.api('GET', '/users/gatekeeper', { token: admin }));
    expect(m.pending).toBe('spawn');
    expect(m.servers[''].pending).toBe('spawn');

    const stream = await th.api('GET', '/users/gatekeeper/server/progress', { token: admin });
    expect(stream.status).toBe(200);
    let released = false;
    const text = await readStream(stream, (t) => {
      if (!released && t.includes('data: ')) {
        released = true;
        open('gatekeeper');
      }
    });
    expect(text.startsWith('\n\n')).toBe(true);
    const ev = events(text);
    expect(ev[0]).toEqual({ progress: 0, message: 'Server requested', time: expect.stringMatching(/^\d{4}-.*Z$/) });
    expect(ev.at(-1)).toMatchObject({ progress: 100, ready: true, url: '/user/gatekeeper/' });
    expect(ev.slice(0, -1).every((e) => !e.ready && !e.failed)).toBe(true);
    // progress never goes backwards
    for (let i = 1; i < ev.length; i++) expect(ev[i].progress).toBeGreaterThanOrEqual(ev[i - 1].progress);
    expect(running('gatekeeper')).toBe(true);
  });

  it('a pending spawn that then fails: the stream ends with the failed event', async () => {
    th.token('gatefail');
    expect((await th.api('POST', '/users/gatefail/server', { token: admin })).status).toBe(202);
    const stream = await th.api('GET', '/users/gatefail/server/progress', { token: admin });
    let released = false;
    const text = await readStream(stream, (t) => {
      if (!released && t.includes('data: ')) {
        released = true;
        open('gatefail');
      }
    });
    const ev = events(text);
    expect(ev.at(-1)).toMatchObject({ progress: 100, failed: true });
    expect(ev.at(-1).message).toMatch(/^Spawn failed: .*exited/);
    expect(inactive('gatefail')).toBe(true);
  });

  it('DELETE while pending cancels the start (JupyterHub 5.1+): 204, nothing left, the stream ends with a failed "cancelled" event', async () => {
    th.token('gatecancel');
    expect((await th.api('POST', '/users/gatecancel/server', { token: admin })).status).toBe(202);
    const pid = await waitFor(() => (th.running.hub.spawns.get('gatecancel', '')?.spawner?.state() as { pid?: number }).pid);
    expect((await th.api('DELETE', '/users/gatecancel/server', { token: admin })).status).toBe(204);
    expect(inactive('gatecancel')).toBe(true);
    // Gone, or a zombie this test process has not reaped yet.
    const stat = (() => { try { return readFileSync(`/proc/${pid}/stat`, 'utf8'); } catch { return null; } })();
    expect(stat === null || / Z /.test(stat.slice(stat.lastIndexOf(')')))).toBe(true);
    const ev = events(await readStream(await th.api('GET', '/users/gatecancel/server/progress', { token: admin })));
    expect(ev).toEqual([{ progress: 100, failed: true, message: 'Spawn failed: The start was cancelled' }]);
    const m = await json(await th.api('GET', '/users/gatecancel', { token: admin }));
    expect(m.pending).toBeNull();
    expect(m.servers).toEqual({});
  });

  it('active server limit → 429', async () => {
    // gatekeeper is running; start two more, then the fourth is refused.
    await startOk('alice');
    await startOk('alice', 'nb2');
    const res = await th.api('POST', '/users/bob/server', { token: admin });
    expect(res.status).toBe(429);
    expect((await json(res)).message).toMatch(/Active server limit/);
    expect(inactive('bob')).toBe(true);
    expect((await th.api('DELETE', '/users/alice/servers/nb2', { token: admin })).status).toBe(204);
    expect((await th.api('DELETE', '/users/gatekeeper/server', { token: admin })).status).toBe(204);
  });
});

describe('OAuth provider', () => {
  let secret: string;
  const clientId = 'jupyterhub-user-alice';
  const redirect = '/user/alice/oauth_callback';
  const authorizeUrl = (state = 'st8') =>
    `/hub/api/oauth2/authorize?client_id=${clientId}&redirect_uri=${encodeURIComponent(redirect)}&response_type=code&state=${state}`;

  beforeAll(async () => {
    if (!running('alice')) await startOk('alice');
    secret = (await json(await fetch(`${th.url}/user/alice/env`))).JUPYTERHUB_API_TOKEN;
    expect(secret).toBeTruthy();
  });

  async function codeFor(b: Browser, state = 'st8'): Promise<string> {
    const res = await b.request('GET', authorizeUrl(state));
    expect(res.status).toBe(302);
    const loc = new URL(res.headers.get('location')!, th.url);
    expect(loc.pathname).toBe(redirect);
    expect(loc.searchParams.get('state')).toBe(state);
    return loc.searchParams.get('code')!;
  }
  const exchange = (fields: Record<string, string>, headers: Record<string, string> = {}) =>
    fetch(`${th.url}/hub/api/oauth2/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams(fields).toString(),
    });
  const good = (code: string) => ({ client_id: clientId, client_secret: secret, grant_type: 'authorization_code', code, redirect_uri: redirect });

  it('authorize: not logged in → 302 to login with next', async () => {
    const b = new Browser(th.url);
    const res = await b.request('GET', authorizeUrl());
    expect(res.status).toBe(302);
    const loc = new URL(res.headers.get('location')!, th.url);
    expect(loc.pathname).toBe('/hub/login');
    expect(loc.searchParams.get('next')).toBe(authorizeUrl());
  });

  it("authorize: another user's server → 403 HTML; no code issued", async () => {
    const b = new Browser(th.url);
    await b.login('bob');
    const res = await b.request('GET', authorizeUrl());
    expect(res.status).toBe(403);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    expect(await res.text()).toMatch(/You do not have permission to access Server at \/user\/alice\//);
  });

  it('authorize: own server → 302 with code and state; redirect mismatch → 400 HTML', async () => {
    const b = new Browser(th.url);
    await b.login('alice');
    const code = await codeFor(b);
    expect(code).toMatch(/^[A-Za-z0-9]{20,}$/);
    const bad = await b.request('GET', authorizeUrl().replace(encodeURIComponent(redirect), encodeURIComponent('/user/alice/evil')));
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toMatch(/text\/html/);
    const unknown = await b.request('GET', authorizeUrl().replace(clientId, 'jupyterhub-user-nobody'));
    expect(unknown.status).toBe(400);
  });

  it('token endpoint: errors in OAuth shape; a code is single use', async () => {
    const b = new Browser(th.url);
    await b.login('alice');
    const code = await codeFor(b);

    let res = await exchange(good(code), { Authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}` });
    expect(res.status).toBe(401);
    expect(await json(res)).toEqual({ error: 'invalid_client' });
    res = await exchange({ ...good(code), client_secret: 'wrong' });
    expect(res.status).toBe(401);
    expect(await json(res)).toEqual({ error: 'invalid_client' });
    res = await exchange({ ...good(code), client_id: 'jupyterhub' , client_secret: '' });
    expect(res.status).toBe(401);
    res = await exchange({ ...good(code), grant_type: 'password' });
    expect(res.status).toBe(400);
    expect(await json(res)).toEqual({ error: 'unsupported_grant_type' });
    res = await exchange({ ...good('not-a-real-code') });
    expect(res.status).toBe(400);
    expect(await json(res)).toEqual({ error: 'invalid_grant' });

    res = await exchange(good(code));
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const tok = await json(res);
    expect(tok).toMatchObject({ token_type: 'Bearer', expires_in: 14 * 86400 });
    expect(tok.scope.split(' ')).toContain('access:servers!server=alice/');
    // single use
    res = await exchange(good(code));
    expect(res.status).toBe(400);
    expect(await json(res)).toEqual({ error: 'invalid_grant' });
    // the access token identifies alice with the server-access scope
    const who = await json(await th.api('GET', '/user', { token: tok.access_token }));
    expect(who.name).toBe('alice');
    expect(who.scopes).toContain('access:servers!server=alice/');
    expect(who.session_id).toMatch(/^[0-9a-f]{32}$/);
  });

  it('token endpoint: redirect_uri mismatch → 400 invalid_request', async () => {
    const b = new Browser(th.url);
    await b.login('alice');
    const code = await codeFor(b);
    const res = await exchange({ ...good(code), redirect_uri: '/user/alice/other' });
    expect(res.status).toBe(400);
    expect(await json(res)).toEqual({ error: 'invalid_request', error_description: 'Mismatching redirect URI.' });
  });

  it('authorize: bad response_type, scopes beyond the allowed set, duplicate params', async () => {
    const b = new Browser(th.url);
    await b.login('alice', 'pw', '/hub/home');
    let res = await b.request('GET', authorizeUrl().replace('response_type=code', 'response_type=token'));
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe(`${redirect}?error=unsupported_response_type&state=st8`);
    res = await b.request('GET', `${authorizeUrl()}&scope=${encodeURIComponent('admin:users')}`);
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toMatch(/error=invalid_scope/);
    res = await b.request('GET', `${authorizeUrl()}&client_id=${clientId}`);
    expect(res.status).toBe(400);
  });

  it("an admin opening a user's server is asked first; the confirm form needs _xsrf", async () => {
    const b = new Browser(th.url);
    await b.login('admin', 'pw', '/hub/home');
    const ask = await b.request('GET', authorizeUrl());
    expect(ask.status).toBe(200);
    const html = await ask.text();
    expect(html).toMatch(/Authorize access/);
    const xsrf = /name="_xsrf" value="([^"]+)"/.exec(html)![1]!;
    const FORM = { 'Content-Type': 'application/x-www-form-urlencoded' };
    for (const bad of ['', 'wrong']) {
      const res = await b.request('POST', authorizeUrl(), { body: new URLSearchParams({ _xsrf: bad }).toString(), headers: FORM });
      expect(res.status).toBe(403);
    }
    const ok = await b.request('POST', authorizeUrl(), { body: new URLSearchParams({ _xsrf: xsrf }).toString(), headers: FORM });
    expect(ok.status).toBe(302);
    expect(new URL(ok.headers.get('location')!, th.url).searchParams.get('code')).toBeTruthy();
  });

  it('stopping the server revokes its OAuth client and every token issued for it', async () => {
    const b = new Browser(th.url);
    await b.login('alice', 'pw', '/hub/home');
    const code = await codeFor(b);
    const tok = await json(await exchange(good(code)));
    expect((await th.api('GET', '/user', { token: tok.access_token })).status).toBe(200);
    expect((await th.api('DELETE', '/users/alice/server', { token: admin })).status).toBe(204);
    expect((await th.api('GET', '/user', { token: tok.access_token })).status).toBe(403);
    expect((await exchange(good(code))).status).toBe(401);
    expect((await b.request('GET', authorizeUrl())).status).toBe(400);
  });
});
