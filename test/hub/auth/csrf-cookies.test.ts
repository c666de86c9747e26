/**
 * Browser-facing security: JupyterHub's cookie rule for the API (contracts §2.1), CSRF on every
 * form, and the login cookie's flags.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, startTestHub, waitFor, type TestHub } from '../harness.js';

let th: TestHub;
const FORM = { 'Content-Type': 'application/x-www-form-urlencoded' };

beforeAll(async () => {
  th = await startTestHub();
});
afterAll(async () => {
  await th?.teardown();
});

const hub = () => th.running.hub;
const form = (o: Record<string, string>) => new URLSearchParams(o).toString();

async function loggedIn(user: string): Promise<{ b: Browser; xsrf: string }> {
  const b = new Browser(th.url);
  const { res } = await b.login(user, 'pw', '/hub/home');
  expect(res.status).toBeLessThan(400);
  // The token is bound to the session (an HMAC), so it comes from a page, not from a cookie.
  const xsrf = /name="_xsrf" value="([^"]+)"/.exec(await (await b.request('GET', '/hub/token')).text())?.[1];
  expect(xsrf).toBeTruthy();
  return { b, xsrf: xsrf! };
}

describe('login cookie flags', () => {
  it('HttpOnly, SameSite=Lax, path /hub/, not Secure over http', async () => {
    const b = new Browser(th.url);
    const page = await b.request('GET', '/hub/login');
    const xsrf = /name="_xsrf" value="([^"]+)"/.exec(await page.text())![1]!;
    const res = await b.request('POST', '/hub/login', { body: form({ _xsrf: xsrf, username: 'alice', password: 'x' }), headers: FORM });
    expect(res.status).toBe(302);
    const cookies = res.headers.getSetCookie();
    const login = cookies.find((c) => c.startsWith('atrium-hub-login='))!;
    expect(login).toBeTruthy();
    expect(login).toMatch(/;\s*HttpOnly/i);
    expect(login).toMatch(/;\s*SameSite=Lax/i);
    expect(login).toMatch(/;\s*Path=\/hub\//i);
    expect(login).not.toMatch(/;\s*Secure/i);
    const xsrfCookie = page.headers.getSetCookie().find((c) => c.startsWith('atrium-xsrf='))!;
    expect(xsrfCookie).toMatch(/SameSite=Lax/i);
    // the session is stored hashed
    const value = /^atrium-hub-login=([^;]+)/.exec(login)![1]!;
    const rows = hub().stores.db.prepare('SELECT id FROM sessions').all() as { id: string }[];
    expect(rows.some((r) => r.id.includes(value))).toBe(false);
  });
});

describe('cookie-authenticated API requests (JupyterHub Referer rule)', () => {
  it('cookie without Referer → 403; Referer from a hub page → 200; foreign Referer → 403', async () => {
    const { b } = await loggedIn('alice');
    let res = await b.request('GET', '/hub/api/user');
    expect(res.status).toBe(403);
    const host = new URL(th.url).host;
    res = await b.request('GET', '/hub/api/user', { headers: { Referer: `${th.url}/hub/home` } });
    expect(res.status).toBe(200);
    const who = await res.json();
    expect(who.name).toBe('alice');
    // JupyterHub: session_id is the token's, so null for cookie auth (contracts §2.3)
    expect(who.session_id).toBeNull();
    for (const referer of ['http://evil.example/hub/home', `${th.url}/user/alice/tree`, `http://${host}.evil.example/hub/`, 'not a url']) {
      res = await b.request('GET', '/hub/api/user', { headers: { Referer: referer } });
      expect(res.status, referer).toBe(403);
    }
  });

  it('POST with a cookie: text/plain or a form type → 403 (anonymous); JSON → allowed', async () => {
    const { b } = await loggedIn('alice');
    const ref = { Referer: `${th.url}/hub/home` };
    const before = hub().stores.tokens.ofUser(hub().stores.users.get('alice')!.id).length;
    for (const ct of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      const res = await b.request('POST', '/hub/api/users/alice/tokens', { body: '{}', headers: { ...ref, 'Content-Type': ct } });
      expect(res.status, ct).toBe(403);
    }
    expect(hub().stores.tokens.ofUser(hub().stores.users.get('alice')!.id).length).toBe(before);
    const ok = await b.request('POST', '/hub/api/users/alice/tokens', { body: '{}', headers: { ...ref, 'Content-Type': 'application/json' } });
    expect(ok.status).toBe(201);
  });
});

describe('CSRF on every form', () => {
  async function check(b: Browser, xsrf: string, path: string, fields: Record<string, string>, unchanged: () => unknown, expectOk: (res: Response) => void) {
    const snapshot = JSON.stringify(unchanged());
    for (const bad of [undefined, '', 'wrong', xsrf.slice(0, -1) + (xsrf.endsWith('0') ? '1' : '0')]) {
      const body = form(bad === undefined ? fields : { ...fields, _xsrf: bad });
      const res = await b.request('POST', path, { body, headers: FORM });
      expect(res.status, `${path} with _xsrf=${bad}`).toBe(403);
      expect(JSON.stringify(unchanged()), `${path} changed something`).toBe(snapshot);
    }
    const res = await b.request('POST', path, { body: form({ ...fields, _xsrf: xsrf }), headers: FORM });
    expectOk(res);
  }

  it('POST /hub/login', async () => {
    const b = new Browser(th.url);
    const page = await b.request('GET', '/hub/login');
    const xsrf = /name="_xsrf" value="([^"]+)"/.exec(await page.text())![1]!;
    await check(b, xsrf, '/hub/login', { username: 'csrfuser', password: 'x' }, () => [hub().stores.users.get('csrfuser'), b.cookie('atrium-hub-login')], (res) => {
      expect(res.status).toBe(302);
      expect(b.cookie('atrium-hub-login')).toBeTruthy();
    });
  });

  it('POST /hub/login without any XSRF cookie (cross-site form) → 403', async () => {
    const res = await fetch(`${th.url}/hub/login`, { method: 'POST', body: form({ _xsrf: 'a'.repeat(64), username: 'x', password: 'y' }), headers: FORM, redirect: 'manual' });
    expect(res.status).toBe(403);
  });

  it('POST /hub/token and /hub/token/revoke', async () => {
    const { b, xsrf } = await loggedIn('tokuser');
    const uid = hub().stores.users.get('tokuser')!.id;
    const tokens = () => hub().stores.tokens.ofUser(uid).map((t) => t.id).sort((x, y) => x - y);
    await check(b, xsrf, '/hub/token', { note: 'n' }, tokens, (res) => expect(res.status).toBe(200));
    const id = tokens().at(-1)!;
    await check(b, xsrf, '/hub/token/revoke', { id: String(id) }, tokens, (res) => expect(res.status).toBe(303));
    expect(tokens()).not.toContain(id);
  });

  it('POST /hub/spawn and /hub/stop/...', async () => {
    const { b, xsrf } = await loggedIn('spawnuser');
    const state = () => hub().spawns.get('spawnuser', '')?.phase ?? 'none';
    await check(b, xsrf, '/hub/spawn', {}, state, (res) => expect(res.status).toBe(302));
    await waitFor(() => state() === 'running');
    await check(b, xsrf, '/hub/stop/spawnuser', {}, state, (res) => expect(res.status).toBe(303));
    expect(state()).toBe('none');
  });

  it('POST /hub/admin/users and /hub/admin/stop-all', async () => {
    const { b, xsrf } = await loggedIn('admin');
    await check(b, xsrf, '/hub/admin/users', { usernames: 'made-by-admin' }, () => hub().stores.users.get('made-by-admin'), (res) => expect(res.status).toBe(303));
    expect(hub().stores.users.get('made-by-admin')).toBeTruthy();
    await check(b, xsrf, '/hub/admin/stop-all', {}, () => [...hub().spawns.active.keys()], (res) => expect(res.status).toBe(303));
  });

  it('admin forms refuse non-admins even with a valid _xsrf', async () => {
    const { b, xsrf } = await loggedIn('notadmin');
    const res = await b.request('POST', '/hub/admin/users', { body: form({ _xsrf: xsrf, usernames: 'sneaky' }), headers: FORM });
    expect(res.status).toBe(403);
    expect(hub().stores.users.get('sneaky')).toBeUndefined();
  });

  it("another user's XSRF token does not work", async () => {
    const a = await loggedIn('xa');
    const other = await loggedIn('xb');
    const res = await a.b.request('POST', '/hub/token', { body: form({ _xsrf: other.xsrf, note: 'n' }), headers: FORM });
    expect(res.status).toBe(403);
  });
});

describe('pages escape what users control', () => {
  it('a token note with HTML is shown escaped on the token page', async () => {
    const { b } = await loggedIn('xssuser');
    const ref = { Referer: `${th.url}/hub/home`, 'Content-Type': 'application/json' };
    const res = await b.request('POST', '/hub/api/users/xssuser/tokens', { body: JSON.stringify({ note: '<script>alert(1)</script><img src=x onerror=alert(2)>' }), headers: ref });
    expect(res.status).toBe(201);
    const page = await (await b.request('GET', '/hub/token')).text();
    expect(page).not.toContain('<script>alert(1)');
    expect(page).not.toContain('<img src=x');
    expect(page).toContain('&#60;script&#62;alert(1)');
  });

  it('the admin page is for admins only', async () => {
    const { b } = await loggedIn('plainuser');
    expect((await b.request('GET', '/hub/admin')).status).toBe(403);
  });
});

describe('logout', () => {
  it('ends the session server-side: the old cookie stops working', async () => {
    const { b } = await loggedIn('leaver');
    const old = b.cookieHeader('/hub/');
    const ref = { Referer: `${th.url}/hub/home` };
    expect((await b.request('GET', '/hub/api/user', { headers: ref })).status).toBe(200);
    const out = await b.request('GET', '/hub/logout');
    expect(out.status).toBe(200);
    const replay = await fetch(`${th.url}/hub/api/user`, { headers: { ...ref, Cookie: old } });
    expect(replay.status).toBe(403);
    const page = await fetch(`${th.url}/hub/home`, { headers: { Cookie: old }, redirect: 'manual' });
    expect(page.status).toBe(302);
    expect(page.headers.get('location')).toMatch(/^\/hub\/login/);
  });
});
