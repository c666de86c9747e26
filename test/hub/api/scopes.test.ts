/**
 * Scope checks on every API route (contracts §2.1, §2.4): 403 without the scope, 404 with a
 * filter for someone else, success with it. Roles: user (inherit), admin, server token,
 * narrowed tokens. whoami: 403 (never 401) for every kind of missing token.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub, type TestHub } from '../harness.js';

let th: TestHub;
let alice: string; // inherit, normal user
let admin: string;
let serverTok: string; // alice's server role
let narrow: string; // alice, read:users:name!user only

const NO_ACCESS = 'No access to resources or resources not found';

beforeAll(async () => {
  th = await startTestHub();
  alice = th.token('alice');
  th.token('bob'); // bob exists, with a token of his own
  admin = th.token('admin');
  serverTok = th.token('alice', ['users:activity!user', 'access:servers!user']);
  narrow = th.token('alice', ['read:users:name!user']);
  th.running.hub.stores.groups.create('g1');
});

afterAll(async () => {
  await th?.teardown();
});

async function json(res: Response): Promise<any> {
  const text = await res.text();
  return text ? JSON.parse(text) : null;
}

async function expectError(res: Response, status: number, message?: string | RegExp) {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/application\/json/);
  const body = await json(res);
  expect(body.status).toBe(status);
  expect(typeof body.message).toBe('string');
  if (typeof message === 'string') expect(body.message).toBe(message);
  else if (message) expect(body.message).toMatch(message);
}

describe('whoami', () => {
  it('403 (never 401) for missing, bogus, empty and expired tokens', async () => {
    for (const headers of <Record<string, string>[]>[
      {},
      { Authorization: 'token bogus-bogus-bogus-bogus' },
      { Authorization: 'token ' },
      { Authorization: '' },
      { Authorization: 'bearer' },
      { Authorization: 'Basic YWxpY2U6cHc=' },
    ]) {
      const res = await th.api('GET', '/user', { headers });
      await expectError(res, 403, 'Forbidden');
    }
    // expired
    const expired = th.token('alice');
    const row = th.running.hub.stores.db.prepare('SELECT id FROM api_tokens ORDER BY id DESC LIMIT 1').get() as { id: number };
    th.running.hub.stores.db.prepare('UPDATE api_tokens SET expires_at = ? WHERE id = ?').run('2000-01-01T00:00:00.000Z', row.id);
    await expectError(await th.api('GET', '/user', { token: expired }), 403, 'Forbidden');
  });

  it('accepts token and bearer, case-insensitively', async () => {
    for (const scheme of ['token', 'Token', 'bearer', 'Bearer']) {
      const res = await th.api('GET', '/user', { headers: { Authorization: `${scheme} ${alice}` } });
      expect(res.status).toBe(200);
    }
  });

  it('user token: sorted, expanded, filtered scopes', async () => {
    const res = await th.api('GET', '/user', { token: alice });
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body).toMatchObject({ kind: 'user', name: 'alice', admin: false, session_id: null });
    const scopes: string[] = body.scopes;
    expect(scopes).toEqual([...scopes].sort());
    expect(scopes).toContain('access:servers!user=alice');
    expect(scopes).toContain('read:users:name!user=alice');
    expect(scopes).toContain('servers!user=alice');
    expect(scopes.every((s) => s.endsWith('!user=alice'))).toBe(true);
    expect(scopes).not.toContain('self');
    expect(scopes).not.toContain('inherit');
  });

  it('server token: the captured server-role scope set', async () => {
    const body = await json(await th.api('GET', '/user', { token: serverTok }));
    expect(body.name).toBe('alice');
    expect(body.scopes).toEqual([
      'access:servers!user=alice',
      'read:users:activity!user=alice',
      'read:users:groups!user=alice',
      'read:users:name!user=alice',
      'users:activity!user=alice',
    ]);
    expect(body.groups).toEqual([]);
  });

  it('admin token: unfiltered scopes', async () => {
    const body = await json(await th.api('GET', '/user', { token: admin }));
    expect(body.admin).toBe(true);
    expect(body.scopes).toContain('admin:users');
    expect(body.scopes).toContain('list:users');
  });

  it('a narrowed token is narrowed', async () => {
    const body = await json(await th.api('GET', '/user', { token: narrow }));
    expect(body.name).toBe('alice');
    expect(body.scopes).not.toContain('servers!user=alice');
    expect(body.scopes).toContain('read:users:name!user=alice');
    // Cannot read its own servers or tokens
    await expectError(await th.api('GET', '/users/alice/tokens', { token: narrow }), 403);
    await expectError(await th.api('POST', '/users/alice/server', { token: narrow }), 403);
  });

  it('a token asking for more than its owner has is narrowed to the owner', async () => {
    const t = th.token('alice', ['admin:users', 'list:users']);
    const body = await json(await th.api('GET', '/user', { token: t }));
    expect(body.scopes).not.toContain('admin:users');
    expect(body.scopes).not.toContain('list:users');
    await expectError(await th.api('GET', '/users', { token: t }), 403);
    await expectError(await th.api('DELETE', '/users/bob', { token: t }), 403);
  });
});

describe('roles', () => {
  it('a normal user reads itself, not others, and cannot list users', async () => {
    expect((await th.api('GET', '/users/alice', { token: alice })).status).toBe(200);
    await expectError(await th.api('GET', '/users/bob', { token: alice }), 404, NO_ACCESS);
    await expectError(await th.api('GET', '/users', { token: alice }), 403, /requires any of \[list:users\]/);
    // a user that does not exist looks the same as one you may not see
    await expectError(await th.api('GET', '/users/nosuchuser', { token: alice }), 404, NO_ACCESS);
  });

  it('an admin can do everything', async () => {
    expect((await th.api('GET', '/users', { token: admin })).status).toBe(200);
    expect((await th.api('GET', '/users/bob', { token: admin })).status).toBe(200);
    expect((await th.api('GET', '/users/bob/tokens', { token: admin })).status).toBe(200);
    expect((await th.api('GET', '/groups', { token: admin })).status).toBe(200);
    expect((await th.api('GET', '/info', { token: admin })).status).toBe(200);
    expect((await th.api('GET', '/proxy', { token: admin })).status).toBe(200);
    expect((await th.api('GET', '/metrics', { token: admin })).status).toBe(200);
  });

  it('a server token posts activity for its own user only', async () => {
    const ts = new Date().toISOString();
    const own = await th.api('POST', '/users/alice/activity', { token: serverTok, body: { last_activity: ts } });
    expect(own.status).toBe(200);
    expect(await own.text()).toBe('');
    await expectError(await th.api('POST', '/users/bob/activity', { token: serverTok, body: { last_activity: ts } }), 404, NO_ACCESS);
    // and can do nothing else
    await expectError(await th.api('GET', '/users/alice/tokens', { token: serverTok }), 403);
    await expectError(await th.api('POST', '/users/alice/server', { token: serverTok }), 403);
    await expectError(await th.api('GET', '/users', { token: serverTok }), 403);
  });
});

describe('every route: 403 without the scope, 404 filtered for another user, OK with it', () => {
  // [method, path for bob, body, status for admin/owner]
  type Row = { method: string; path: (u: string) => string; body?: unknown; scope: string; ok?: number };
  const userRoutes: Row[] = [
    { method: 'GET', path: (u) => `/users/${u}`, scope: 'read:users' },
    { method: 'GET', path: (u) => `/users/${u}/tokens`, scope: 'read:tokens' },
    { method: 'POST', path: (u) => `/users/${u}/tokens`, body: { note: 'x' }, scope: 'tokens', ok: 201 },
    { method: 'GET', path: (u) => `/users/${u}/tokens/a999999`, scope: 'read:tokens', ok: 404 },
    { method: 'DELETE', path: (u) => `/users/${u}/tokens/a999999`, scope: 'tokens', ok: 404 },
    { method: 'POST', path: (u) => `/users/${u}/activity`, body: { last_activity: '2020-01-01T00:00:00Z' }, scope: 'users:activity' },
    { method: 'GET', path: (u) => `/users/${u}/server/progress`, scope: 'read:servers', ok: 404 },
    { method: 'DELETE', path: (u) => `/users/${u}/server`, scope: 'delete:servers', ok: 204 },
  ];

  for (const r of userRoutes) {
    it(`${r.method} ${r.path('NAME')}`, async () => {
      // No scope at all: a token that only carries an unrelated scope (plus the identify
      // scopes every token gets, which GET /users/NAME accepts: that route filters instead).
      const none = th.token('carol', ['access:servers!user']);
      const noScope = await th.api(r.method, r.path('carol'), { token: none, body: r.body });
      if (r.path('x') === '/users/x') {
        expect(noScope.status).toBe(200);
        expect(Object.keys(await json(noScope)).sort()).toEqual(['admin', 'groups', 'kind', 'name']);
      } else {
        await expectError(noScope, 403, /Action is not authorized with current scopes; requires any of \[/);
      }
      // Filtered scope for another user
      await expectError(await th.api(r.method, r.path('bob'), { token: alice, body: r.body }), 404, NO_ACCESS);
      // With it (own resource)
      const own = await th.api(r.method, r.path('alice'), { token: alice, body: r.body });
      expect(own.status, await own.clone().text()).toBe(r.ok ?? 200);
      // Admin on bob
      const adm = await th.api(r.method, r.path('bob'), { token: admin, body: r.body });
      expect(adm.status, await adm.clone().text()).toBe(r.ok ?? 200);
    });
  }

  const adminRoutes: Row[] = [
    { method: 'GET', path: () => '/users', scope: 'list:users' },
    { method: 'POST', path: () => '/users', body: { usernames: ['newbie1'] }, scope: 'admin:users', ok: 201 },
    { method: 'POST', path: () => '/users/newbie2', scope: 'admin:users', ok: 201 },
    { method: 'PATCH', path: () => '/users/newbie2', body: { admin: false }, scope: 'admin:users' },
    { method: 'DELETE', path: () => '/users/newbie2', scope: 'delete:users', ok: 204 },
    { method: 'GET', path: () => '/groups', scope: 'list:groups' },
    { method: 'POST', path: () => '/groups', body: { groups: ['g2'] }, scope: 'admin:groups', ok: 201 },
    { method: 'GET', path: () => '/groups/g1', scope: 'read:groups' },
    { method: 'POST', path: () => '/groups/g3', scope: 'admin:groups', ok: 201 },
    { method: 'POST', path: () => '/groups/g1/users', body: { users: ['bob'] }, scope: 'groups' },
    { method: 'DELETE', path: () => '/groups/g1/users', body: { users: ['bob'] }, scope: 'groups' },
    { method: 'DELETE', path: () => '/groups/g3', scope: 'delete:groups', ok: 204 },
    { method: 'GET', path: () => '/info', scope: 'read:hub' },
    { method: 'GET', path: () => '/proxy', scope: 'proxy' },
    { method: 'POST', path: () => '/proxy', scope: 'proxy' },
    { method: 'GET', path: () => '/metrics', scope: 'read:metrics' },
    { method: 'POST', path: () => '/shutdown', body: { servers: 'yes' }, scope: 'shutdown', ok: 400 },
  ];
  for (const r of adminRoutes) {
    it(`${r.method} ${r.path('')} needs ${r.scope}`, async () => {
      const res = await th.api(r.method, r.path(''), { token: alice, body: r.body });
      await expectError(res, 403, new RegExp(`requires any of \\[[^\\]]*${r.scope.replace(/[:]/g, '\\:')}`));
      const adm = await th.api(r.method, r.path(''), { token: admin, body: r.body });
      expect(adm.status, await adm.clone().text()).toBe(r.ok ?? 200);
    });
  }

  it('a token with only the named scope is enough', async () => {
    const t = th.token('admin', ['list:users']);
    expect((await th.api('GET', '/users', { token: t })).status).toBe(200);
    await expectError(await th.api('GET', '/groups', { token: t }), 403);
    const m = th.token('admin', ['read:metrics']);
    expect((await th.api('GET', '/metrics', { token: m })).status).toBe(200);
    await expectError(await th.api('GET', '/metrics', { token: alice }), 403);
    await expectError(await th.api('GET', '/metrics'), 403);
  });

  it('models are filtered by what the caller may see', async () => {
    const t = th.token('admin', ['list:users']);
    const list = await (await th.api('GET', '/users', { token: t })).json();
    expect(list.length).toBeGreaterThan(1);
    // the token owner also sees its own groups (identify scopes come with every token)
    for (const u of list) expect(Object.keys(u).sort(), u.name).toEqual(u.name === 'admin' ? ['admin', 'groups', 'kind', 'name'] : ['admin', 'kind', 'name']);
    const filtered = th.token('admin', ['list:users!user=alice', 'list:users!user=bob']);
    const names = (await (await th.api('GET', '/users', { token: filtered })).json()).map((u: { name: string }) => u.name).sort();
    expect(names).toEqual(['alice', 'bob']);
    const act = th.token('admin', ['read:users:activity']);
    expect(Object.keys(await (await th.api('GET', '/users/bob', { token: act })).json()).sort()).toEqual(['admin', 'kind', 'last_activity', 'name']);
  });

  it('a group-filtered scope gives access to members only', async () => {
    const hub = th.running.hub;
    const g = hub.stores.groups.get('g1')!;
    const dave = hub.stores.users.ensure('dave').user;
    hub.stores.groups.addMember(g.id, dave.id);
    hub.stores.users.ensure('erin');
    const t = th.token('admin', ['read:users!group=g1']);
    expect((await th.api('GET', '/users/dave', { token: t })).status).toBe(200);
    await expectError(await th.api('GET', '/users/erin', { token: t }), 404, NO_ACCESS);
  });
});

describe('hub-level routes', () => {
  it('GET /hub/api answers with the version header, no auth needed', async () => {
    for (const p of ['', '/']) {
      const res = await th.api('GET', p);
      expect(res.status).toBe(200);
      expect(res.headers.get('x-jupyterhub-version')).toBe('3.0.0');
      expect((await json(res)).version).toBe('3.0.0');
    }
  });

  it('/hub/health and /hub/api/health: 200, empty, text/html', async () => {
    for (const p of ['/hub/health', '/hub/api/health']) {
      const res = await fetch(`${th.url}${p}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/text\/html/);
      expect(await res.text()).toBe('');
    }
  });

  it('/hub/metrics needs read:metrics and returns Prometheus text', async () => {
    expect((await fetch(`${th.url}/hub/metrics`)).status).toBe(403);
    const res = await fetch(`${th.url}/hub/metrics`, { headers: { Authorization: `token ${admin}` } });
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(/^# HELP /m);
  });

  it('unknown API route: 404 JSON', async () => {
    await expectError(await th.api('GET', '/nonsense', { token: admin }), 404, 'Not Found');
  });

  it('named servers disabled → 400 for start and stop, nothing created', async () => {
    const uid = th.running.hub.stores.users.get('alice')!.id;
    const before = th.running.hub.stores.servers.ofUser(uid).length;
    for (const m of ['POST', 'DELETE']) {
      const res = await th.api(m, '/users/alice/servers/nb1', { token: alice });
      await expectError(res, 400, 'Named servers are not enabled.');
    }
    expect(th.running.hub.stores.servers.ofUser(uid).length).toBe(before);
  });

  it('every API response carries X-JupyterHub-Version', async () => {
    for (const [m, p, t] of [['GET', '/user', alice], ['GET', '/users', alice], ['GET', '/nonsense', undefined]] as const) {
      expect((await th.api(m, p, { token: t })).headers.get('x-jupyterhub-version'), p).toBe('3.0.0');
    }
  });

  it('OPTIONS on an API route answers 200 with an empty body', async () => {
    const res = await th.api('OPTIONS', '/users');
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('');
  });
});
