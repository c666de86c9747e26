/**
 * Header-authenticator login through the hub: the child proxy appends the peer to
 * X-Forwarded-For and proves the hop with the proxy proof; the hub then steps back exactly one
 * hop (client-address.ts). Identity headers are accepted from trusted peers only, on the login
 * page and on any page with autoLogin.
 *
 * The portal is at 203.0.113.5, another host: a portal on this host without a JWT is refused by
 * the config check (test/hub/config/identity-hop.test.ts). A request "from the portal" is
 * therefore what the child proxy sends for it: loopback peer, the proof, X-Forwarded-For.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub, type TestHub } from '../harness.js';

let th: TestHub;
const PORTAL = '203.0.113.5';

beforeAll(async () => {
  th = await startTestHub({
    authenticator: {
      kind: 'header',
      autoLogin: true,
      header: {
        userHeader: 'Remote-User',
        trustedProxies: [`${PORTAL}/32`],
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

/** What the child proxy sends to the hub for a client at `from`. */
function viaProxy(url: string, headers: OutgoingHttpHeaders, from = PORTAL) {
  return th.running.app.inject({
    method: 'GET',
    url,
    remoteAddress: '127.0.0.1',
    headers: { ...headers, 'x-forwarded-for': from, 'x-atrium-proxy-proof': th.running.hub.proxyProof },
  });
}

describe('trusted peer (the portal, through the child proxy)', () => {
  it('GET /hub/login with Remote-User logs in and stores auth_state encrypted', async () => {
    const res = await viaProxy('/hub/login', {
      'remote-user': 'Portal.User', 'x-auth-state': JSON.stringify({ HOST: 'files', PRIVATEKEY: 'SECRET-KEY-MATERIAL' }),
    });
    expect(res.statusCode).toBe(302);
    expect(loginCookie(res.headers['set-cookie'])).toBe(true);
    const u = th.running.hub.stores.users.get('portal.user')!;
    expect(u).toBeTruthy();
    expect(u.auth_state!.toString('latin1')).not.toContain('SECRET-KEY-MATERIAL');
    expect(th.running.hub.cipher.decrypt(u.auth_state!)).toEqual({ mount: { HOST: 'files', PRIVATEKEY: 'SECRET-KEY-MATERIAL' } });
  });

  it('a forged X-Forwarded-For from the client does not change the verdict (the proxy appends the real peer)', async () => {
    const res = await viaProxy('/hub/login', { 'remote-user': 'xff-user' }, `10.9.9.9, ${PORTAL}`);
    expect(res.statusCode).toBe(302);
  });

  it('no identity header → 403 page, nobody created', async () => {
    const before = users();
    const res = await viaProxy('/hub/login', {});
    expect(res.statusCode).toBe(403);
    expect(users()).toEqual(before);
  });

  it('identity headers are never accepted by the API', async () => {
    const res = await viaProxy('/hub/api/user', { 'remote-user': 'portal.user' });
    expect(res.statusCode).toBe(403);
  });
});

describe('untrusted peer', () => {
  const cases: { name: string; remoteAddress: string; xff?: string; proof?: 'real' | 'forged' }[] = [
    { name: 'direct from 10.9.9.9', remoteAddress: '10.9.9.9' },
    { name: 'direct from 10.9.9.9 claiming X-Forwarded-For of the portal', remoteAddress: '10.9.9.9', xff: PORTAL },
    { name: 'direct from loopback (a local process) claiming X-Forwarded-For of the portal', remoteAddress: '127.0.0.1', xff: PORTAL },
    { name: 'direct from loopback with a forged proof', remoteAddress: '127.0.0.1', xff: PORTAL, proof: 'forged' },
    { name: 'via the local proxy from 10.9.9.9', remoteAddress: '127.0.0.1', xff: '10.9.9.9', proof: 'real' },
    { name: 'via the local proxy, forged trusted hop before the real one', remoteAddress: '127.0.0.1', xff: `${PORTAL}, 10.9.9.9`, proof: 'real' },
    { name: 'IPv6 loopback peer claiming the portal', remoteAddress: '::1', xff: PORTAL },
  ];
  const headersFor = (c: (typeof cases)[number]) => ({
    'remote-user': 'intruder',
    ...(c.xff ? { 'x-forwarded-for': c.xff } : {}),
    ...(c.proof ? { 'x-atrium-proxy-proof': c.proof === 'real' ? th.running.hub.proxyProof : 'f'.repeat(64) } : {}),
  });
  for (const c of cases) {
    it(`${c.name}: /hub/login → 403, no user, no cookie`, async () => {
      const before = users();
      const res = await th.running.app.inject({
        method: 'GET',
        url: '/hub/login',
        remoteAddress: c.remoteAddress,
        headers: headersFor(c),
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
        headers: headersFor(c),
      });
      expect(res.statusCode).toBe(403);
      expect(loginCookie(res.headers['set-cookie'])).toBe(false);
      noStack(res.body);
      expect(users()).toEqual(before);
    });
  }

  it('a trusted peer via inject is accepted (the check is not just "inject fails")', async () => {
    const direct = await th.running.app.inject({ method: 'GET', url: '/hub/login', remoteAddress: PORTAL, headers: { 'remote-user': 'inject-ok' } });
    expect(direct.statusCode).toBe(302);
    expect(th.running.hub.stores.users.get('inject-ok')).toBeTruthy();
  });

  it('through the real child proxy from this host (not the portal) → 403, even naming the portal', async () => {
    const before = users();
    const res = await fetch(`${th.url}/hub/login`, { headers: { 'Remote-User': 'intruder', 'X-Forwarded-For': PORTAL }, redirect: 'manual' });
    expect(res.status).toBe(403);
    expect(loginCookie(res.headers.getSetCookie())).toBe(false);
    expect(users()).toEqual(before);
  });

  it('autoLogin pages from a trusted peer log in', async () => {
    const res = await viaProxy('/hub/home', { 'remote-user': 'auto-user' });
    expect(res.statusCode).toBe(200);
    expect(loginCookie(res.headers['set-cookie'])).toBe(true);
  });

  it('hostile identity values from a trusted peer → 400 saying why, nobody created', async () => {
    const before = users();
    for (const v of ['../x', 'a/b', '\u0430lice', 'x'.repeat(300), '%2e%2e']) {
      const res = await viaProxy('/hub/login', { 'remote-user': v });
      // An over-long header value is refused by the header authenticator itself (403).
      expect(res.statusCode, v).toBe(v.length > 255 ? 403 : 400);
      if (v.length <= 255) expect(res.body, v).toContain('cannot be used as a user name');
      noStack(res.body);
    }
    // two identity headers
    const dup = await viaProxy('/hub/login', { 'remote-user': ['a', 'b'] });
    expect(dup.statusCode).toBeGreaterThanOrEqual(400);
    expect(dup.statusCode).toBeLessThan(500);
    expect(users()).toEqual(before);
  });
});
