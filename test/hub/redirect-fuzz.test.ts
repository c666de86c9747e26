/**
 * No URL gives a 5xx (Safety round item 4): hostile `next` values and path tails against every
 * route that writes a Location, through the real proxy, logged in and not. The status is never
 * >= 500, a Location is always a visible-ASCII header that stays on this site, and no body
 * carries a stack or Node's ERR_INVALID_CHAR.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, startTestHub, waitFor, type TestHub } from './harness.js';

let th: TestHub;
let alice: Browser;
let anon: Browser;
let loginXsrf: string;

const HOSTILE: string[] = [
  '/\u2028', '/%E2%80%A8', '/hub/\u00e9t\u00e9', '/\u3000', '/\u{1F4A9}', '/\uD800', '/x\uDFFFy', '/%ED%A0%80', '/%F0%9F%92%A9',
  '/\r\nSet-Cookie: evil=1', '/%0d%0aSet-Cookie:%20evil=1', '/\n', '/\u0000', '/%00', '/\t/evil.example',
  '//evil.example', '///evil.example', '/\\evil.example', '/%5Cevil.example', '\\\\evil.example', '/\\/evil.example',
  'javascript:alert(1)', 'JaVaScRiPt:alert(1)', 'data:text/html,<script>alert(1)</script>', 'https://evil.example/', 'http:evil.example',
  '/' + 'a'.repeat(10_000), '/' + '\u00e9'.repeat(3000), '/%', '/%zz', '/%E0%A4', ' /x', '', '?', '#frag',
  '/hub/../../evil', '/..%2f..%2fevil', '/%2e%2e/%2e%2e/evil', '/user/bob/', '/hub/login?next=//evil.example',
];

/** Every route that redirects, as a function of one hostile value. */
function routes(v: string): [string, string][] {
  const q = encodeURIComponent(v.toWellFormed ? v.toWellFormed() : v);
  const clientQ = `client_id=jupyterhub-user-alice&redirect_uri=${encodeURIComponent('/user/alice/oauth_callback')}`;
  return [
    ['GET', `/hub/login?next=${q}`],
    ['GET', `/hub/spawn?next=${q}`],
    ['GET', `/hub/spawn/alice?next=${q}`],
    ['GET', `/hub/spawn-pending/alice?next=${q}`],
    ['GET', `/hub/user-redirect/${q}`],
    ['GET', `/hub/user-redirect/lab${q.replace(/%2F/gi, '/')}`],
    ['GET', `/hub/user/alice/${q}`],
    ['GET', `/user/alice/${q}`],
    ['GET', `/hub/api/oauth2/authorize?${clientQ}&response_type=code&state=${q}`],
    ['GET', `/hub/api/oauth2/authorize?${clientQ}&response_type=token&state=${q}`],
    ['GET', `/hub/api/oauth2/authorize?${clientQ}&response_type=code&scope=${q}&state=${q}`],
    ['GET', `/hub/error/404?url=${q}`],
  ];
}

function checkResponse(what: string, status: number, location: string | null, body: string) {
  expect(status, what).toBeLessThan(500);
  expect(body, what).not.toMatch(/ERR_INVALID_CHAR|\n\s+at [\w.<>]+ \(|Internal Server Error/);
  if (location !== null) {
    expect(location, what).toMatch(/^[\x21-\x7e]*$/);
    const target = new URL(location, th.url);
    expect(target.origin, `${what} → ${location}`).toBe(new URL(th.url).origin);
    expect(target.protocol, what).toBe('http:');
  }
}

beforeAll(async () => {
  th = await startTestHub({ spawner: { namedServers: { enabled: true } } });
  alice = new Browser(th.url);
  await alice.login('alice', 'pw', '/hub/home');
  // alice's server running, so the OAuth client and the running-server redirects are exercised
  expect([201, 202]).toContain((await th.api('POST', '/users/alice/server', { token: th.token('admin') })).status);
  await waitFor(() => th.running.hub.spawns.get('alice', '')?.phase === 'running');
  anon = new Browser(th.url);
  const page = await anon.request('GET', '/hub/login');
  loginXsrf = /name="_xsrf" value="([^"]+)"/.exec(await page.text())![1]!;
});
afterAll(async () => {
  await th?.teardown();
});

describe('hostile next values and path tails × every redirecting route', () => {
  it(`GET, logged in and anonymous (${HOSTILE.length} values)`, async () => {
    let n = 0;
    for (const v of HOSTILE) {
      for (const [method, path] of routes(v)) {
        for (const [who, b] of [['alice', alice], ['anon', anon]] as const) {
          const res = await b.request(method, path);
          checkResponse(`${who} ${method} ${path.slice(0, 120)}`, res.status, res.headers.get('location'), await res.text());
          n++;
        }
      }
    }
    expect(n).toBeGreaterThan(900);
    // still signed in: the loop really exercised the logged-in branches
    expect((await alice.request('GET', '/hub/login')).status).toBe(302);
  });

  it('GET /hub/logout?next=... (each in a fresh session)', async () => {
    for (const v of HOSTILE) {
      const b = new Browser(th.url);
      await b.login('carol', 'pw', '/hub/home');
      const path = `/hub/logout?next=${encodeURIComponent(v.toWellFormed ? v.toWellFormed() : v)}`;
      const res = await b.request('GET', path);
      checkResponse(`logout ${path.slice(0, 120)}`, res.status, res.headers.get('location'), await res.text());
    }
  });

  it('POST /hub/login?next=... signs in and lands on this site (or a 4xx), never a 5xx', async () => {
    for (const v of HOSTILE) {
      const b = new Browser(th.url);
      const page = await b.request('GET', '/hub/login');
      const xsrf = /name="_xsrf" value="([^"]+)"/.exec(await page.text())![1]!;
      const path = `/hub/login?next=${encodeURIComponent(v.toWellFormed ? v.toWellFormed() : v)}`;
      const res = await b.request('POST', path, {
        body: new URLSearchParams({ _xsrf: xsrf, username: 'bob', password: 'pw' }).toString(),
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      });
      checkResponse(`POST ${path.slice(0, 120)}`, res.status, res.headers.get('location'), await res.text());
      // 431: the URL itself is larger than the header limit, refused before the hub sees it.
      if (res.status !== 431) {
        expect(res.status, path.slice(0, 120)).toBe(302);
        expect(b.cookie('atrium-hub-login')).toBeTruthy();
      }
    }
    expect(loginXsrf).toBeTruthy();
  });

  it('the reported case: a logged-in user at /hub/login?next=/%E2%80%A8 is redirected, percent-encoded', async () => {
    const res = await alice.request('GET', '/hub/login?next=/%E2%80%A8');
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('/%E2%80%A8');
  });

  it('raw bytes outside ASCII in the request line (through the proxy): never a 5xx', async () => {
    const cookie = alice.cookieHeader('/hub/');
    const send = (path: Buffer) =>
      new Promise<string>((resolve, reject) => {
        const s = connect(th.config.proxy.port, '127.0.0.1');
        let out = '';
        s.on('data', (d) => (out += d.toString('latin1')));
        s.on('end', () => resolve(out));
        s.on('error', reject);
        s.write(Buffer.concat([Buffer.from('GET '), path, Buffer.from(` HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: ${cookie}\r\nConnection: close\r\n\r\n`)]));
      });
    for (const tail of ['\u2028', '\u00e9', '\u{1F4A9}']) {
      for (const prefix of ['/hub/user-redirect/', '/hub/login?next=/', '/user/alice/x', '/hub/user/alice/']) {
        const raw = await send(Buffer.concat([Buffer.from(prefix), Buffer.from(tail, 'utf8')]));
        const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1] ?? 0);
        expect(status, `${prefix}${tail}`).toBeGreaterThanOrEqual(200);
        expect(status, `${prefix}${tail}`).toBeLessThan(500);
        expect(raw).not.toMatch(/ERR_INVALID_CHAR/);
        const loc = /\r\nlocation: ([^\r]*)/i.exec(raw)?.[1];
        if (loc) checkResponse(`raw ${prefix}`, status, loc, '');
      }
    }
  });
});
