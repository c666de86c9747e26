/**
 * Bad input (issue "Hub core"): hostile user names in forms, JSON and URL paths; malformed and
 * oversized bodies; unknown routes and methods; bad tokens; huge query strings. Every answer is
 * a 4xx without a stack trace, and nothing is created or changed.
 */
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, startTestHub, type TestHub } from '../harness.js';

let th: TestHub;
let admin: string;
const MAX_BODY = 4096;

beforeAll(async () => {
  th = await startTestHub({ hub: { maxBodyBytes: MAX_BODY } });
  admin = th.token('admin');
  th.token('alice');
});
afterAll(async () => {
  await th?.teardown();
});

const HOSTILE = ['../x', '', 'x'.repeat(300), 'a\u0001b', 'a\nb', '\u0430lice', 'a/b', '%2e%2e', '..', 'a\\b', ' alice', 'a\u202eb', 'a"b<c>', 'a;b'];

/** A request with the path sent byte for byte (fetch would resolve %2e%2e and ..). */
function raw(method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<Response> {
  const u = new URL(th.url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: u.hostname, port: u.port, method, path, headers: { ...headers, ...(body ? { 'Content-Length': String(Buffer.byteLength(body)) } : {}) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const h = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') h.set(k, v);
        resolve(new Response(res.statusCode === 204 || res.statusCode === 304 ? null : Buffer.concat(chunks), { status: res.statusCode!, headers: h }));
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

function snapshot(): string {
  const db = th.running.hub.stores.db;
  const rows = ['users', 'groups', 'user_groups', 'servers', 'api_tokens', 'sessions', 'oauth_clients'].map(
    (t) => db.prepare(`SELECT * FROM ${t} ORDER BY rowid`).all().map((r) => {
      const { last_activity: _a, ...rest } = r as Record<string, unknown>;
      return rest;
    }),
  );
  return JSON.stringify(rows);
}

async function expectClean(res: Response, what: string, statuses: number[] = []) {
  const body = await res.text();
  if (statuses.length) expect(statuses, `${what}: ${res.status} ${body.slice(0, 200)}`).toContain(res.status);
  expect(res.status, `${what}: ${body.slice(0, 200)}`).toBeGreaterThanOrEqual(400);
  expect(res.status, `${what}: ${body.slice(0, 200)}`).toBeLessThan(500);
  expect(body, what).not.toMatch(/node:internal|\bat .*\.[jt]s:\d+|\.ts:\d+:\d+/);
}

describe('hostile user names', () => {
  it('in POST /hub/api/users and POST /hub/api/users/:name: 400, nothing created', async () => {
    const before = snapshot();
    for (const name of HOSTILE) {
      await expectClean(await th.api('POST', '/users', { token: admin, body: { usernames: [name] } }), `POST /users ${JSON.stringify(name)}`, [400]);
      // mixed with a good one: the whole request is refused
      await expectClean(await th.api('POST', '/users', { token: admin, body: { usernames: ['goodname', name] } }), `mixed ${JSON.stringify(name)}`, [400]);
      if (name && !name.includes('/') && !/[\n\u0001]/.test(name)) {
        await expectClean(await th.api('POST', `/users/${encodeURIComponent(name)}`, { token: admin }), `POST /users/${name}`, [400, 404]);
      }
    }
    expect(snapshot()).toBe(before);
  });

  it('in PATCH rename: 400, nothing changed', async () => {
    const before = snapshot();
    for (const name of HOSTILE) {
      await expectClean(await th.api('PATCH', '/users/alice', { token: admin, body: { name } }), `rename to ${JSON.stringify(name)}`, [400]);
    }
    expect(snapshot()).toBe(before);
  });

  it('in the login form: 403 page, no user, no session', async () => {
    const before = snapshot();
    for (const name of HOSTILE) {
      const b = new Browser(th.url);
      const page = await b.request('GET', '/hub/login');
      const xsrf = /name="_xsrf" value="([^"]+)"/.exec(await page.text())![1]!;
      const res = await b.request('POST', '/hub/login', {
        body: new URLSearchParams({ _xsrf: xsrf, username: name, password: 'pw' }).toString(),
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      });
      // leading/trailing blanks are trimmed by the form, so ' alice' logs in as alice
      if (name === ' alice') {
        expect(res.status).toBe(302);
        continue;
      }
      // A name that breaks the rule is explained (400, decision 0008); a refused one is 403.
      await expectClean(res, `login ${JSON.stringify(name)}`, [400, 403]);
      expect(res.headers.getSetCookie().some((c) => c.startsWith('atrium-hub-login='))).toBe(false);
    }
    // only alice's new session may differ
    const after = JSON.parse(snapshot());
    const was = JSON.parse(before);
    expect(after[0]).toEqual(was[0]);
  });

  it('in URL paths: 4xx, never a server for a hostile name', async () => {
    const paths = [
      '/hub/api/users/..%2Fx', '/hub/api/users/%2e%2e', '/hub/api/users/a%2Fb', '/hub/api/users/a%00b', '/hub/api/users/%D0%B0lice',
      '/hub/api/users/..%2Fx/server', '/hub/api/users/%2e%2e/tokens', '/hub/api/users/a%0Ab/activity',
      `/hub/api/users/${'x'.repeat(300)}`, `/hub/api/users/${'x'.repeat(5000)}`,
    ];
    const before = snapshot();
    for (const p of paths) {
      for (const method of ['GET', 'POST', 'DELETE']) {
        const res = await raw(method, p, { Authorization: `token ${admin}`, 'Content-Type': 'application/json' }, method === 'GET' ? undefined : '{}');
        await expectClean(res, `${method} ${p.slice(0, 80)}`);
      }
    }
    expect(snapshot()).toBe(before);
  });

  it('in page paths (spawn, user redirect): 4xx or a redirect, never a 5xx', async () => {
    const b = new Browser(th.url);
    await b.login('alice', 'pw', '/hub/home');
    const before = snapshot();
    for (const p of ['/hub/spawn/..%2Fx', '/hub/spawn/%2e%2e', '/hub/spawn/a%2Fb/x', '/hub/spawn-pending/%00', '/hub/user/%D0%B0lice/tree', '/hub/user/..%2F..%2Fetc/', `/hub/spawn/${'x'.repeat(3000)}`]) {
      const res = await raw('GET', p, { Cookie: b.cookieHeader('/hub/') });
      const body = await res.text();
      expect(res.status, `${p}: ${body.slice(0, 200)}`).toBeLessThan(500);
      expect(body).not.toMatch(/node:internal|\.ts:\d+:\d+/);
      if (res.status >= 300 && res.status < 400) expect(res.headers.get('location')!.startsWith('/')).toBe(true);
    }
    expect(JSON.parse(snapshot())[3]).toEqual(JSON.parse(before)[3]); // servers
  });
});

describe('malformed bodies', () => {
  const routes: [string, string][] = [
    ['POST', '/users'], ['POST', '/users/newone'], ['PATCH', '/users/alice'], ['POST', '/groups'], ['POST', '/groups/g9'],
    ['POST', '/users/alice/tokens'], ['POST', '/users/alice/activity'], ['POST', '/users/alice/server'], ['POST', '/shutdown'],
  ];
  const bodies = ['{', '{"usernames": [', 'nul', '\u0000\u0001', '{"a":1}}', '[[[[', '"unterminated'];

  it('invalid JSON → 400 "Invalid JSON in body of request"; nothing changes', async () => {
    const before = snapshot();
    for (const [m, p] of routes) {
      for (const body of bodies) {
        const res = await th.api(m, p, { token: admin, body });
        const text = await res.clone().text();
        await expectClean(res, `${m} ${p} ${JSON.stringify(body)}`, [400]);
        expect(JSON.parse(text).message, `${m} ${p}`).toBe('Invalid JSON in body of request');
      }
    }
    expect(snapshot()).toBe(before);
    expect(th.running.hub.spawns.get('alice', '')).toBeUndefined();
  });

  it('__proto__ keys do not pollute or grant admin', async () => {
    const res = await th.api('POST', '/users', { token: admin, body: '{"usernames": ["protouser"], "__proto__": {"admin": true}}' });
    expect(res.status).toBe(201);
    expect((await res.json())[0].admin).toBe(false);
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
    const p = await th.api('PATCH', '/users/protouser', { token: admin, body: '{"__proto__": {"admin": true}}' });
    expect(p.status).toBeLessThan(500);
    expect(th.running.hub.stores.users.get('protouser')!.admin).toBe(0);
    expect((await th.api('DELETE', '/users/protouser', { token: admin })).status).toBe(204);
  });

  it('JSON of the wrong shape → 400', async () => {
    const before = snapshot();
    for (const [m, p] of routes.filter(([, p]) => !p.endsWith('/server'))) {
      for (const body of ['[]', '"str"', '42', 'true']) {
        const res = await th.api(m, p, { token: admin, body });
        // POST /users/newone and /groups/g9 read only optional fields: an array body is refused
        await expectClean(res, `${m} ${p} ${body}`, [400]);
      }
    }
    expect(snapshot()).toBe(before);
  });

  it('bodies over hub.maxBodyBytes → 413, API and forms', async () => {
    const before = snapshot();
    const big = JSON.stringify({ usernames: Array.from({ length: 2000 }, (_, i) => `u${i}`) });
    expect(big.length).toBeGreaterThan(MAX_BODY);
    await expectClean(await th.api('POST', '/users', { token: admin, body: big }), 'big JSON', [413]);
    await expectClean(await th.api('POST', '/users', { token: admin, body: big, headers: { 'Content-Type': 'text/plain' } }), 'big text', [413]);
    const form = new URLSearchParams({ username: 'x'.repeat(MAX_BODY * 2), password: 'y' }).toString();
    await expectClean(await fetch(`${th.url}/hub/login`, { method: 'POST', body: form, headers: { 'Content-Type': 'application/x-www-form-urlencoded' } }), 'big form', [413]);
    await expectClean(await fetch(`${th.url}/hub/api/oauth2/token`, { method: 'POST', body: form, headers: { 'Content-Type': 'application/x-www-form-urlencoded' } }), 'big token form', [413]);
    expect(snapshot()).toBe(before);
  });
});

describe('unknown routes and methods', () => {
  it('unknown API routes → 404 JSON; elsewhere → 404 HTML', async () => {
    for (const p of ['/hub/api/nope', '/hub/api/users/alice/nope', '/hub/api/roles', '/hub/api/services/x/y/z']) {
      const res = await fetch(`${th.url}${p}`, { headers: { Authorization: `token ${admin}` } });
      expect(res.headers.get('content-type'), p).toMatch(/application\/json/);
      await expectClean(res, p, [404]);
    }
    for (const p of ['/hub/nope', '/hub/admin/nope', '/hub/login/extra/stuff']) {
      const res = await fetch(`${th.url}${p}`);
      expect(res.headers.get('content-type'), p).toMatch(/text\/html/);
      await expectClean(res, p, [404]);
    }
  });

  it('unknown methods → 404/405, never 5xx', async () => {
    const before = snapshot();
    for (const [m, p] of [['PUT', '/hub/api/users'], ['PROPFIND', '/hub/api/users'], ['PATCH', '/hub/api/groups'], ['PUT', '/hub/api/users/alice'], ['DELETE', '/hub/api'], ['PROPFIND', '/hub/login'], ['PUT', '/hub/login'], ['DELETE', '/hub/home'], ['MKCOL', '/hub/api/users/alice/server']]) {
      const res = await fetch(`${th.url}${p}`, { method: m, headers: { Authorization: `token ${admin}`, 'Content-Type': 'application/json' }, body: m === 'DELETE' ? undefined : '{}' });
      await expectClean(res, `${m} ${p}`, [404, 405]);
    }
    expect(snapshot()).toBe(before);
  });
});

describe('tokens and query strings', () => {
  it('missing, wrong or malformed tokens → 403 JSON', async () => {
    for (const auth of ['', 'token', 'token ' + 'x'.repeat(5000), 'token a b', 'Bearer \u00ff\u00fe', 'token ' + admin.slice(0, -1), `token ${admin}x`, 'Digest x']) {
      const res = await fetch(`${th.url}/hub/api/users`, { headers: auth ? { Authorization: auth } : {} });
      await expectClean(res, `auth ${auth.slice(0, 30)}`, [403]);
    }
  });

  it('huge query strings → 4xx or 200, never 5xx', async () => {
    const q = 'name_filter=' + 'a'.repeat(6000);
    let res = await fetch(`${th.url}/hub/api/users?${q}`, { headers: { Authorization: `token ${admin}` } });
    expect(res.status).toBeLessThan(500);
    await res.arrayBuffer();
    res = await fetch(`${th.url}/hub/api/users?${Array.from({ length: 2000 }, (_, i) => `k${i}=v`).join('&')}`, { headers: { Authorization: `token ${admin}` } });
    expect(res.status).toBeLessThan(500);
    await res.arrayBuffer();
    res = await fetch(`${th.url}/hub/api/users?offset=${'9'.repeat(400)}`, { headers: { Authorization: `token ${admin}` } });
    expect(res.status).toBeLessThan(500);
    await res.arrayBuffer();
    res = await fetch(`${th.url}/hub/api/users?offset=1&offset=2`, { headers: { Authorization: `token ${admin}` } });
    expect(res.status).toBeLessThan(500);
    await res.arrayBuffer();
    res = await fetch(`${th.url}/hub/login?next=${'%2F'.repeat(5000)}`);
    expect(res.status).toBeLessThan(500);
    await res.arrayBuffer();
  });

  it('the login form normalises the name (ALICE logs in as alice)', async () => {
    const b = new Browser(th.url);
    await b.login('ALICE', 'pw', '/hub/home');
    const res = await b.request('GET', '/hub/api/user', { headers: { Referer: `${th.url}/hub/home` } });
    expect((await res.json()).name).toBe('alice');
    expect(th.running.hub.stores.users.get('ALICE')).toBeUndefined();
  });

  it('login next= cannot redirect off-site', async () => {
    for (const next of ['//evil.example/', 'https://evil.example/', '/\\evil.example', '/hub/\r\nX: y']) {
      const b = new Browser(th.url);
      const { chain } = await b.login('alice', 'pw', next);
      for (const u of chain) expect(new URL(u).host).toBe(new URL(th.url).host);
    }
  });

  it('HEAD is answered like GET, headers only: pages, the API, an unknown path; a POST-only route still says 404', async () => {
    for (const [path, status] of [['/hub/login', 200], ['/hub/api', 200], ['/hub/api/users', 403], ['/hub/nope', 404]] as const) {
      const get = await raw('GET', path);
      const getBody = await get.text();
      const head = await raw('HEAD', path);
      expect(head.status, path).toBe(status);
      expect(get.status, path).toBe(status);
      expect(head.headers.get('content-type'), path).toBe(get.headers.get('content-type'));
      expect(head.headers.get('content-length') ?? String(Buffer.byteLength(getBody)), path).toBe(String(Buffer.byteLength(getBody)));
      expect(await head.text(), path).toBe('');
    }
    // The OAuth token endpoint has no GET route: HEAD is not turned into a POST.
    expect((await raw('HEAD', '/hub/api/oauth2/token')).status).toBe(404);
  });
});
