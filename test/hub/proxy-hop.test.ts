/**
 * No local process can assert an identity: the hub as a real process with its child
 * atrium-proxy and the header authenticator, everything on this host.
 *
 * - Portal on another host (203.0.113.5), no JWT: a local process naming the portal in
 *   X-Forwarded-For is refused, straight to the hub port or through the proxy, with or without a
 *   forged proxy proof, and cannot become the admin; a user server behind the proxy never sees
 *   a proof.
 * - Portal on this host (127.0.0.2, the documented safe way: a signed JWT): the portal logs in
 *   through the proxy, which needs the proof to carry the portal's address to the hub; the same
 *   JWT from any other local address is refused. It still works after kill -9 of the hub and a
 *   restart that adopts the running proxy.
 */
import { readFileSync, statSync } from 'node:fs';
import { request, type OutgoingHttpHeaders } from 'node:http';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hubProcess, pidAlive, type HubProcess } from './hub-process.js';

const PORTAL_ELSEWHERE = '203.0.113.5';
const PORTAL_HERE = '127.0.0.2';
const SECRET = 'portal-signing-secret-0123456789-abcdef';
const FORGED = 'f'.repeat(64);

interface Answer { status: number; cookies: string[]; body: string }

/** GET from a chosen local source address (node's fetch cannot pick one). */
function get(url: string, headers: OutgoingHttpHeaders, localAddress = '127.0.0.1'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers, localAddress }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, cookies: ([] as string[]).concat(res.headers['set-cookie'] ?? []), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const loggedIn = (a: Answer) => a.cookies.some((c) => c.startsWith('atrium-hub-login='));

function sessionCount(hp: HubProcess): number {
  const db = hp.db();
  try {
    return (db.prepare('SELECT COUNT(*) AS n FROM sessions').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

describe('portal on another host, no JWT', () => {
  let hp: HubProcess;
  let echo: Server;
  let seen: IncomingHttpHeaders[] = [];

  beforeAll(async () => {
    hp = await hubProcess({
      authenticator: {
        kind: 'header',
        adminUsers: ['boss'],
        header: { userHeader: 'Remote-User', trustedProxies: [`${PORTAL_ELSEWHERE}/32`] },
      },
    });
    await hp.start();
    echo = createServer((req, res) => {
      seen.push(req.headers);
      res.end('echo');
    });
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()));
  });
  afterAll(async () => {
    echo?.closeAllConnections();
    await new Promise((r) => echo?.close(r));
    await hp?.teardown();
  });

  const attack = { 'Remote-User': 'boss', 'X-Forwarded-For': PORTAL_ELSEWHERE };

  it('the proof is a 0600 file in the state dir, and not on the proxy\'s command line', () => {
    const file = join(hp.stateDir, 'proxy-proof');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const proof = readFileSync(file, 'utf8').trim();
    expect(proof.length).toBeGreaterThanOrEqual(32);
    const pid = Number(readFileSync(join(hp.stateDir, 'proxy.pid'), 'utf8'));
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).not.toContain(proof);
  });

  it('(a) a local process straight to the hub port, naming the portal in X-Forwarded-For, is refused and is not the admin', async () => {
    for (const headers of [attack, { ...attack, 'X-Atrium-Proxy-Proof': FORGED }]) {
      const a = await get(`${hp.hubUrl}/hub/login`, headers);
      expect(a.status).toBe(403);
      expect(loggedIn(a)).toBe(false);
      expect(a.body).not.toMatch(/node:internal|\.ts:\d+:\d+/);
    }
    expect(sessionCount(hp)).toBe(0);
    // Nothing the attacker holds opens the admin API.
    expect((await hp.api('GET', '/users', { direct: true })).status).toBe(403);
  });

  it('(b) the same through the proxy\'s public port is refused, a forged proof changes nothing', async () => {
    for (const headers of [attack, { ...attack, 'X-Atrium-Proxy-Proof': FORGED }]) {
      const a = await get(`${hp.url}/hub/login`, headers);
      expect(a.status).toBe(403);
      expect(loggedIn(a)).toBe(false);
    }
    expect(sessionCount(hp)).toBe(0);
    expect(hp.output()).toContain('header login from an untrusted address refused');
  });

  it('the hub itself is fine: the portal\'s own address is accepted (the refusals above are not blanket)', async () => {
    // The only way to come from 203.0.113.5 here is to say so with the proof, as the proxy does.
    const proof = readFileSync(join(hp.stateDir, 'proxy-proof'), 'utf8').trim();
    const a = await get(`${hp.hubUrl}/hub/login`, { ...attack, 'X-Atrium-Proxy-Proof': proof });
    expect(a.status).toBe(302);
    expect(loggedIn(a)).toBe(true);
  });

  it('(c) a user server behind the proxy never sees a proof, forged or real', async () => {
    const token = readFileSync(join(hp.stateDir, 'proxy-token'), 'utf8').trim();
    const apiUrl = (hp.config.proxy as { apiUrl: string }).apiUrl;
    const target = `http://127.0.0.1:${(echo.address() as AddressInfo).port}`;
    const res = await fetch(`${apiUrl}/api/routes/user/mallory`, {
      method: 'POST', headers: { authorization: `token ${token}` }, body: JSON.stringify({ target, user: 'mallory', server_name: '' }),
    });
    expect(res.status).toBe(201);
    seen = [];
    const a = await get(`${hp.url}/user/mallory/api/status`, { 'X-Atrium-Proxy-Proof': FORGED });
    expect(a.body).toBe('echo');
    expect(seen).toHaveLength(1);
    expect(seen[0]!['x-atrium-proxy-proof']).toBeUndefined();
    expect(seen[0]!['x-forwarded-for']).toBe('127.0.0.1');
    await fetch(`${apiUrl}/api/routes/user/mallory`, { method: 'DELETE', headers: { authorization: `token ${token}` } });
  });
});

describe('portal on this host with a signed JWT (docs/authenticators/header.md)', () => {
  let hp: HubProcess;
  const jwt = (sub: string) =>
    new SignJWT({ sub }).setProtectedHeader({ alg: 'HS256' }).setIssuer('portal').setAudience('atrium')
      .setIssuedAt().setExpirationTime('5m').sign(new TextEncoder().encode(SECRET));

  beforeAll(async () => {
    hp = await hubProcess({
      authenticator: {
        kind: 'header',
        adminUsers: ['boss'],
        header: {
          userHeader: 'X-Portal-Token',
          trustedProxies: [`${PORTAL_HERE}/32`],
          jwt: { secret: SECRET, issuer: 'portal', audience: 'atrium' },
        },
      },
    });
    await hp.start();
  });
  afterAll(async () => {
    await hp?.teardown();
  });

  it('(d) the portal logs users in through the proxy; the same token from another local address is refused', async () => {
    const ok = await get(`${hp.url}/hub/login`, { 'X-Portal-Token': await jwt('alice') }, PORTAL_HERE);
    expect(ok.status).toBe(302);
    expect(loggedIn(ok)).toBe(true);
    // A local process with a valid token, even naming the portal: not from the portal's address.
    const stolen = await get(`${hp.url}/hub/login`, { 'X-Portal-Token': await jwt('boss'), 'X-Forwarded-For': PORTAL_HERE });
    expect(stolen.status).toBe(403);
    const direct = await get(`${hp.hubUrl}/hub/login`, { 'X-Portal-Token': await jwt('boss'), 'X-Forwarded-For': PORTAL_HERE });
    expect(direct.status).toBe(403);
    // From the portal's address but unsigned: refused by the JWT check.
    const unsigned = await get(`${hp.url}/hub/login`, { 'X-Portal-Token': 'boss' }, PORTAL_HERE);
    expect(unsigned.status).toBe(403);
  });

  it('(f) after kill -9 of the hub and a restart that adopts the proxy, the portal still logs in', async () => {
    const pidFile = join(hp.stateDir, 'proxy.pid');
    const proxyPid = Number(readFileSync(pidFile, 'utf8'));
    await hp.kill('SIGKILL');
    expect(pidAlive(proxyPid)).toBe(true);
    await hp.start();
    // The hub answers (through the old proxy) before it has decided to adopt it.
    for (let i = 0; i < 200 && hp.output().split('"proxy ready"').length < 3; i++) await new Promise((r) => setTimeout(r, 50));
    expect(hp.output()).toContain('adopted running proxy');
    expect(Number(readFileSync(pidFile, 'utf8'))).toBe(proxyPid);
    const ok = await get(`${hp.url}/hub/login`, { 'X-Portal-Token': await jwt('bob') }, PORTAL_HERE);
    expect(ok.status).toBe(302);
    expect(loggedIn(ok)).toBe(true);
  });

  it('a restart with a different proof (ATRIUM_PROXY_PROOF) replaces the proxy instead of adopting one that cannot vouch', async () => {
    const pidFile = join(hp.stateDir, 'proxy.pid');
    const oldPid = Number(readFileSync(pidFile, 'utf8'));
    await hp.kill('SIGKILL');
    process.env.ATRIUM_PROXY_PROOF = 'another-proof-' + 'x'.repeat(40);
    try {
      await hp.start({ waitReady: false });
    } finally {
      delete process.env.ATRIUM_PROXY_PROOF;
    }
    const ready = async () => {
      if (!hp.output().includes('started with another proxy proof')) return false;
      const res = await fetch(`${hp.url}/hub/api/health`).catch(() => null);
      await res?.arrayBuffer();
      return res?.status === 200;
    };
    for (let i = 0; i < 300 && !(await ready()); i++) await new Promise((r) => setTimeout(r, 50));
    expect(hp.output()).toContain('started with another proxy proof');
    expect(pidAlive(oldPid)).toBe(false);
    expect(Number(readFileSync(pidFile, 'utf8'))).not.toBe(oldPid);
    const ok = await get(`${hp.url}/hub/login`, { 'X-Portal-Token': await jwt('carol') }, PORTAL_HERE);
    expect(ok.status).toBe(302);
  });
});
