/**
 * Header authenticator with `jwt:` on, through the hub: a JWT signed with the shared secret
 * logs in; forged, expired, wrong-audience or unsigned tokens are refused with 403; an untrusted
 * peer is refused even with a valid token.
 */
import { SignJWT, UnsecuredJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub, type TestHub } from '../harness.js';

const SECRET = 'a-test-secret-that-is-long-enough-0123456789';
let th: TestHub;

beforeAll(async () => {
  th = await startTestHub({
    authenticator: {
      kind: 'header',
      header: {
        userHeader: 'X-Portal-Token',
        trustedProxies: ['127.0.0.1/32'],
        jwt: { secret: SECRET, issuer: 'portal', audience: 'atrium' },
      },
    },
  });
});
afterAll(async () => {
  await th?.teardown();
});

async function jwt(claims: Record<string, unknown>, opts: { secret?: string; exp?: string | number; iss?: string; aud?: string } = {}) {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer(opts.iss ?? 'portal')
    .setAudience(opts.aud ?? 'atrium')
    .setIssuedAt()
    .setExpirationTime(opts.exp ?? '5m')
    .sign(new TextEncoder().encode(opts.secret ?? SECRET));
}
const users = () => th.running.hub.stores.users.list({}).map((u) => u.name).sort();
const login = (token: string) => fetch(`${th.url}/hub/login`, { headers: { 'X-Portal-Token': token }, redirect: 'manual' });

describe('JWT identity header', () => {
  it('a valid token from a trusted peer logs in (Bearer prefix allowed)', async () => {
    let res = await login(await jwt({ sub: 'JwtUser' }));
    expect(res.status).toBe(302);
    expect(res.headers.getSetCookie().some((c) => c.startsWith('atrium-hub-login='))).toBe(true);
    expect(th.running.hub.stores.users.get('jwtuser')).toBeTruthy();
    res = await login(`Bearer ${await jwt({ sub: 'jwtuser2' })}`);
    expect(res.status).toBe(302);
  });

  it('forged, tampered, expired, wrong issuer/audience, unsigned, garbage → 403; nobody created', async () => {
    const before = users();
    const good = await jwt({ sub: 'victim' });
    const [h, p, s] = good.split('.');
    const tamperedPayload = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p!, 'base64url').toString()), sub: 'admin' })).toString('base64url');
    const bad = [
      await jwt({ sub: 'victim' }, { secret: 'another-secret-that-is-long-enough-987654321' }),
      `${h}.${tamperedPayload}.${s}`,
      await jwt({ sub: 'victim' }, { exp: Math.floor(Date.now() / 1000) - 3600 }),
      await jwt({ sub: 'victim' }, { iss: 'elsewhere' }),
      await jwt({ sub: 'victim' }, { aud: 'other' }),
      new UnsecuredJWT({ sub: 'victim' }).setIssuer('portal').setAudience('atrium').setExpirationTime('5m').encode(),
      'victim',
      'a.b.c',
      await jwt({ name: 'no-sub' }),
    ];
    for (const t of bad) {
      const res = await login(t);
      const body = await res.text();
      expect(res.status, t.slice(0, 40)).toBe(403);
      expect(body).not.toMatch(/node:internal|\.ts:\d+:\d+/);
      expect(res.headers.getSetCookie().some((c) => c.startsWith('atrium-hub-login='))).toBe(false);
    }
    expect(users()).toEqual(before);
  });

  it('an untrusted peer is refused even with a valid token', async () => {
    const before = users();
    // What the child proxy sends for a client at 10.9.9.9: the proof vouches for its X-Forwarded-For.
    const res = await th.running.app.inject({
      method: 'GET',
      url: '/hub/login',
      remoteAddress: '127.0.0.1',
      headers: {
        'x-portal-token': await jwt({ sub: 'sneaky' }),
        'x-forwarded-for': '10.9.9.9',
        'x-atrium-proxy-proof': th.running.hub.proxyProof,
      },
    });
    expect(res.statusCode).toBe(403);
    expect(users()).toEqual(before);
  });
});
