/**
 * Header-authenticator login through the hub: the child proxy appends the peer to
 * X-Forwarded-For and the hub steps back exactly one hop (client-address.ts). Identity headers
 * are accepted from trusted peers only, on the login page and on any page with autoLogin.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub, type TestHub } from '../harness.js';

let th: TestHub;

beforeAll(async () => {
  th = await startTestHub({
    authenticator: {
      kind: 'header',
      autoLogin: true,
      header: {
        userHeader: 'Remote-User',
        trustedProxies: ['127.0.0.1/32'],
        authStateHeaders: [{ header: 'X-Auth-State', key: 'mount', parse: 'json' }],
      },
    },
  });
});
afterAll(async () => {
  await th?.teardown();
});

const users = () => th.running.hub.stores.users.list({}).map((u) => u.name).sort();
const loginCookie = (set: string[] | string | undefined) => ([] as string[]).concat(set ?? []).some((c) => c.startsWith('atrium-hub-login='));
const noStack = (body: string) => expect(body).not.toMatch(/node:internal|\.ts:\d+:\d+|\bat .*\.js:\d+/);

describe('trusted peer (through the child proxy from 127.0.0.1)', () => {
  it('GET /hub/login with Remote-User logs in and stores auth_state encrypted', async () => {
    const res = await fetch(`${th.url}/hub/login`, {
      headers: { 'Remote-User': 'Portal.User', 'X-Auth-State': JSON.stringify({ HOST: 'files', PRIVATEKEY: 'SECRET-KEY-MATERIAL' }) },
      redirect: 'manual',
    });
    expect(res.status).toBe(302);
    expect(loginCookie(res.headers.getSetCookie())).toBe(true);
    const u = th.running.hub.stores.users.get('portal.user')!;
    expect(u).toBeTruthy();
    expect(u.auth_state!.toString('latin1')).not.toContain('SECRET-KEY-MATERIAL');
    expect(th.running.hub.cipher.decrypt(u.auth_state!)).toEqual({ mount: { HOST: 'files', PRIVATEKEY: 'SECRET-KEY-MATERIAL' } });
  });

  it('a forged X-Forwarded-For from the client does not change the verdict (the proxy appends the real peer)', async () => {
    const res = await fetch(`${th.url}/hub/login`, { headers: { 'Remote-User': 'xff-user', 'X-Forwarded-For': '10.9.9.9' }, redirect: 'manual' });
    expect(res.status).toBe(302);
  });

  it('no identity header → 403 page, nobody created', async () => {
    const before = users();
    const res = await fetch(`${th.url}/hub/login`, { redirect: 'manual' });
    expect(res.status).toBe(403);
    expect(users()).toEqual(before);
  });

  it('identity headers are never accepted by the API', async () => {
    const res = await fetch(`${th.url}/hub/api/user`, { headers: { 'Remote-User': 'portal.user' } });
    expect(res.status).toBe(403);
  });
});

describe('untrusted peer', () => {
  const cases: { name: string; remoteAddress: string; xff?: string }[] = [
    { name: 'direct from 10.9.9.9', remoteAddress: '10.9.9.9' },
    { name: 'direct from 10.9.9.9 claiming X-Forwarded-For 127.0.0.1', remoteAddress: '10.9.9.9', xff: '127.0.0.1' },
    { name: 'via the local proxy from 10.9.9.9', remoteAddress: '127.0.0.1', xff: '10.9.9.9' },
    { name: 'via the local proxy, forged trusted hop before the real one', remoteAddress: '127.0.0.1', xff: '127.0.0.1, 10.9.9.9' },
    { name: 'IPv6 peer', remoteAddress: '::1', xff: '2001:db8::1' },
  ];
  for (const c of cases) {
    it(`${c.name}: /hub/login → 403, no user, no cookie`, async () => {
      const before = users();
      const res = await th.running.app.inject({
        method: 'GET',
        url: '/hub/login',
        remoteAddress: c.remoteAddress,
        headers: { 'remote-user': 'intruder', ...(c.xff ? { 'x-forwarded-for': c.xff } : {}) },
      });
      expect(res.statusCode).toBe(403);
      expect(loginCookie(res.headers['set-cookie'])).toBe(false);
      noStack(res.body);
      expect(users()).toEqual(before);
    });

    it(`${c.name}: autoLogin page → 403 (not a 500), no user, no cookie`, async () => {
      const before = users();
      const res = await th.running.app.inject({
        method: 'GET',
        url: '/hub/home',
        remoteAddress: c.remoteAddress,
        headers: { 'remote-user': 'intruder', ...(c.xff ? { 'x-forwarded-for': c.xff } : {}) },
      });
      expect(res.statusCode).toBe(403);
      expect(loginCookie(res.headers['set-cookie'])).toBe(false);
      noStack(res.body);
      expect(users()).toEqual(before);
    });
  }

  it('a trusted peer via inject is accepted (the check is not just "inject fails")', async () => {
    const res = await th.running.app.inject({ method: 'GET', url: '/hub/login', remoteAddress: '127.0.0.1', headers: { 'remote-user': 'inject-ok', 'x-forwarded-for': '127.0.0.1' } });
    expect(res.statusCode).toBe(302);
    expect(th.running.hub.stores.users.get('inject-ok')).toBeTruthy();
  });

  it('autoLogin pages from a trusted peer log in', async () => {
    const res = await fetch(`${th.url}/hub/home`, { headers: { 'Remote-User': 'auto-user' }, redirect: 'manual' });
    expect(res.status).toBe(200);
    expect(loginCookie(res.headers.getSetCookie())).toBe(true);
  });

  it('hostile identity values from a trusted peer → 403, nobody created', async () => {
    const before = users();
    for (const v of ['../x', 'a/b', '\u0430lice', 'x'.repeat(300), '%2e%2e']) {
      const res = await th.running.app.inject({ method: 'GET', url: '/hub/login', remoteAddress: '127.0.0.1', headers: { 'remote-user': v } });
      expect(res.statusCode, v).toBe(403);
      noStack(res.body);
    }
    // two identity headers
    const dup = await th.running.app.inject({ method: 'GET', url: '/hub/login', remoteAddress: '127.0.0.1', headers: { 'remote-user': ['a', 'b'] } });
    expect(dup.statusCode).toBeGreaterThanOrEqual(400);
    expect(dup.statusCode).toBeLessThan(500);
    expect(users()).toEqual(before);
  });
});
