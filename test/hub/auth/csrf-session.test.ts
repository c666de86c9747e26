/**
 * CSRF tokens are bound to the session (Safety round item 5, JupyterHub >= 4.1): a token minted
 * for session A is refused in session B, a cookie planted by a same-origin user server (with a
 * matching form field) is useless, and the pre-login binding used by the login form is rotated
 * away at login.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, startTestHub, type TestHub } from '../harness.js';

let th: TestHub;
const FORM = { 'Content-Type': 'application/x-www-form-urlencoded' };
const form = (o: Record<string, string>) => new URLSearchParams(o).toString();
const tokenOf = (html: string) => /name="_xsrf" value="([^"]+)"/.exec(html)![1]!;

beforeAll(async () => {
  th = await startTestHub();
});
afterAll(async () => {
  await th?.teardown();
});

const tokens = (user: string) => th.running.hub.stores.tokens.ofUser(th.running.hub.stores.users.get(user)!.id).length;

async function session(user: string): Promise<{ b: Browser; xsrf: string }> {
  const b = new Browser(th.url);
  await b.login(user, 'pw', '/hub/home');
  expect(b.cookie('atrium-hub-login')).toBeTruthy();
  return { b, xsrf: tokenOf(await (await b.request('GET', '/hub/token')).text()) };
}

/** POST /hub/token with an explicit Cookie header (what a browser holding planted cookies sends). */
function postToken(cookie: string, xsrf: string) {
  return fetch(`${th.url}/hub/token`, { method: 'POST', headers: { ...FORM, Cookie: cookie }, body: form({ _xsrf: xsrf, note: 'n' }), redirect: 'manual' });
}

describe('CSRF tokens bound to the session', () => {
  it('a token from session A is refused in session B of the same user, and the reverse', async () => {
    const a = await session('alice');
    const b = await session('alice');
    expect(a.xsrf).not.toBe(b.xsrf);
    const before = tokens('alice');
    expect((await b.b.request('POST', '/hub/token', { body: form({ _xsrf: a.xsrf, note: 'x' }), headers: FORM })).status).toBe(403);
    expect((await a.b.request('POST', '/hub/token', { body: form({ _xsrf: b.xsrf, note: 'x' }), headers: FORM })).status).toBe(403);
    expect(tokens('alice')).toBe(before);
    expect((await a.b.request('POST', '/hub/token', { body: form({ _xsrf: a.xsrf, note: 'x' }), headers: FORM })).status).toBe(200);
    expect(tokens('alice')).toBe(before + 1);
  });

  it('the token is stable within a session and the same for the X-XSRFToken header', async () => {
    const a = await session('dora');
    expect(tokenOf(await (await a.b.request('GET', '/hub/token')).text())).toBe(a.xsrf);
    const res = await a.b.request('POST', '/hub/token', { body: form({ note: 'h' }), headers: { ...FORM, 'X-XSRFToken': a.xsrf } });
    expect(res.status).toBe(200);
  });

  it('a planted _xsrf cookie with a matching form field is refused (logged in and before login)', async () => {
    const victim = await session('victim');
    const login = `atrium-hub-login=${victim.b.cookie('atrium-hub-login')}`;
    const planted = 'a'.repeat(64);
    const before = tokens('victim');
    // the old double-submit: any cookie value equal to the field
    for (const name of ['atrium-xsrf', '_xsrf']) {
      expect((await postToken(`${login}; ${name}=${planted}`, planted)).status, name).toBe(403);
    }
    // an attacker's own valid pre-login pair (cookie + token from the login page) planted too
    const attacker = new Browser(th.url);
    const attackerToken = tokenOf(await (await attacker.request('GET', '/hub/login')).text());
    const attackerCookie = attacker.cookie('atrium-xsrf')!;
    expect((await postToken(`${login}; atrium-xsrf=${attackerCookie}`, attackerToken)).status).toBe(403);
    // an attacker's logged-in token in the victim's session
    const mallory = await session('mallory');
    expect((await postToken(`${login}; atrium-xsrf=${planted}`, mallory.xsrf)).status).toBe(403);
    expect(tokens('victim')).toBe(before);
    // before login: a planted cookie and field that match are refused by the login form too
    const res = await fetch(`${th.url}/hub/login`, { method: 'POST', headers: { ...FORM, Cookie: `atrium-xsrf=${planted}` }, body: form({ _xsrf: planted, username: 'planted', password: 'x' }), redirect: 'manual' });
    expect(res.status).toBe(403);
    expect(th.running.hub.stores.users.get('planted')).toBeUndefined();
  });

  it('the login form works before any session; its pre-login token is worthless after login', async () => {
    const b = new Browser(th.url);
    const page = await b.request('GET', '/hub/login');
    const pre = tokenOf(await page.text());
    const preCookie = b.cookie('atrium-xsrf')!;
    expect(preCookie).toMatch(/^[0-9a-f]{64}$/);
    expect(pre).not.toBe(preCookie);
    const res = await b.request('POST', '/hub/login', { body: form({ _xsrf: pre, username: 'erin', password: 'pw' }), headers: FORM });
    expect(res.status).toBe(302);
    // rotated: the pre-login cookie is cleared at login
    expect(res.headers.getSetCookie().some((c) => /^atrium-xsrf=;/.test(c) || /^atrium-xsrf=.*Max-Age=0|Expires=Thu, 01 Jan 1970/i.test(c))).toBe(true);
    expect(b.cookie('atrium-xsrf')).toBeUndefined();
    const before = tokens('erin');
    expect((await b.request('POST', '/hub/token', { body: form({ _xsrf: pre, note: 'n' }), headers: FORM })).status).toBe(403);
    // even with the old pre-login cookie put back next to the session
    expect((await postToken(`atrium-hub-login=${b.cookie('atrium-hub-login')}; atrium-xsrf=${preCookie}`, pre)).status).toBe(403);
    expect(tokens('erin')).toBe(before);
  });

  it('after logout the old session token is refused', async () => {
    const a = await session('frank');
    const loginCookie = a.b.cookie('atrium-hub-login')!;
    await a.b.request('GET', '/hub/logout');
    const res = await postToken(`atrium-hub-login=${loginCookie}`, a.xsrf);
    // no session any more: the page sends the browser to log in, or refuses the token
    expect([302, 403]).toContain(res.status);
  });
});
