/** Users, groups, tokens, activity and pagination APIs (contracts §2.2, §2.4, §2.6). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub, type TestHub } from '../harness.js';
import { hashToken, newToken, tokenPrefix } from '../../../src/hub/auth/crypto.js';

let th: TestHub;
let admin: string;
const PAGINATION = 'application/jupyterhub-pagination+json';

beforeAll(async () => {
  th = await startTestHub();
  admin = th.token('admin');
});
afterAll(async () => {
  await th?.teardown();
});

async function json(res: Response): Promise<any> {
  const text = await res.text();
  return text ? JSON.parse(text) : null;
}
const db = () => th.running.hub.stores.db;

describe('users API', () => {
  it('creates users with lowercase normalisation; 409 when all exist; skips existing ones', async () => {
    const res = await th.api('POST', '/users', { token: admin, body: { usernames: ['Dave', 'ellen'] } });
    expect(res.status).toBe(201);
    const body = await json(res);
    expect(body.map((u: any) => u.name).sort()).toEqual(['dave', 'ellen']);
    expect(body[0]).toMatchObject({ kind: 'user', admin: false, server: null, pending: null });
    const again = await th.api('POST', '/users', { token: admin, body: { usernames: ['DAVE', 'ellen'] } });
    expect(again.status).toBe(409);
    expect((await json(again)).message).toMatch(/already exist/);
    const mixed = await th.api('POST', '/users', { token: admin, body: { usernames: ['dave', 'frank'] } });
    expect(mixed.status).toBe(201);
    expect((await json(mixed)).map((u: any) => u.name)).toEqual(['frank']);
  });

  it('POST /users/:name: 201, 409 on existing, admin flag', async () => {
    const res = await th.api('POST', '/users/Gina', { token: admin, body: { admin: true } });
    expect(res.status).toBe(201);
    expect(await json(res)).toMatchObject({ name: 'gina', admin: true });
    expect((await th.api('POST', '/users/gina', { token: admin })).status).toBe(409);
    expect((await th.api('POST', '/users/GINA', { token: admin })).status).toBe(409);
  });

  it('rejects bad bodies with 400 and creates nothing', async () => {
    const before = (db().prepare('SELECT count(*) AS n FROM users').get() as { n: number }).n;
    for (const body of [{}, { usernames: 'x' }, { usernames: [] }, { usernames: [1] }, { usernames: ['ok1'], admin: 'yes' }, [], 'null1', '{bad']) {
      const res = await th.api('POST', '/users', { token: admin, body });
      expect(res.status, JSON.stringify(body)).toBe(400);
    }
    expect((db().prepare('SELECT count(*) AS n FROM users').get() as { n: number }).n).toBe(before);
  });

  it('GET one user: model keys; 404 for unknown', async () => {
    const res = await th.api('GET', '/users/dave', { token: admin });
    const u = await json(res);
    expect(Object.keys(u).sort()).toEqual(
      ['admin', 'auth_state', 'created', 'groups', 'kind', 'last_activity', 'name', 'pending', 'roles', 'server', 'servers'].sort(),
    );
    expect(u.created).toMatch(/Z$/);
    const missing = await th.api('GET', '/users/nobody-here', { token: admin });
    expect(missing.status).toBe(404);
    expect(await json(missing)).toEqual({ status: 404, message: 'Not Found' });
  });

  it('PATCH: admin flag, auth_state (stored encrypted, returned decrypted), rename, bad keys', async () => {
    let res = await th.api('PATCH', '/users/dave', { token: admin, body: { admin: true, auth_state: { secret: 'sekrit-value-123' } } });
    expect(res.status).toBe(200);
    let u = await json(res);
    expect(u.admin).toBe(true);
    expect(u.auth_state).toEqual({ secret: 'sekrit-value-123' });
    const blob = (db().prepare('SELECT auth_state FROM users WHERE name = ?').get('dave') as { auth_state: Buffer }).auth_state;
    expect(Buffer.isBuffer(blob)).toBe(true);
    expect(blob.toString('latin1')).not.toContain('sekrit');
    // GET shows the decrypted auth_state only to admin:auth_state holders
    expect((await json(await th.api('GET', '/users/dave', { token: admin }))).auth_state).toEqual({ secret: 'sekrit-value-123' });
    const daveTok = th.token('dave', ['read:users!user']);
    const self = await json(await th.api('GET', '/users/dave', { token: daveTok }));
    expect(self.auth_state).toBeNull();

    expect((await th.api('PATCH', '/users/dave', { token: admin, body: { bogus: 1 } })).status).toBe(400);
    expect((await th.api('PATCH', '/users/dave', { token: admin, body: { admin: 'no' } })).status).toBe(400);
    expect((await th.api('PATCH', '/users/dave', { token: admin, body: { name: 'ellen' } })).status).toBe(400);
    expect((await th.api('PATCH', '/users/nobody-here', { token: admin, body: { admin: true } })).status).toBe(404);

    res = await th.api('PATCH', '/users/dave', { token: admin, body: { name: 'Dave2' } });
    expect(res.status).toBe(200);
    u = await json(res);
    expect(u.name).toBe('dave2');
    expect((await th.api('GET', '/users/dave', { token: admin })).status).toBe(404);
    expect((await th.api('GET', '/users/dave2', { token: admin })).status).toBe(200);
    // the renamed user's token still works, and now names the new user
    const who = await json(await th.api('GET', '/user', { token: daveTok }));
    expect(who.name).toBe('dave2');
  });

  it('DELETE: 204, 404 after, cannot delete yourself', async () => {
    const res = await th.api('DELETE', '/users/frank', { token: admin });
    expect(res.status).toBe(204);
    expect(await res.text()).toBe('');
    expect((await th.api('DELETE', '/users/frank', { token: admin })).status).toBe(404);
    const self = await th.api('DELETE', '/users/admin', { token: admin });
    expect(self.status).toBe(400);
    expect((await json(self)).message).toBe('Cannot delete yourself!');
  });
});

describe('pagination', () => {
  beforeAll(async () => {
    const names = Array.from({ length: 230 }, (_, i) => `p${String(i).padStart(3, '0')}`);
    const res = await th.api('POST', '/users', { token: admin, body: { usernames: names } });
    expect(res.status).toBe(201);
  });

  it('default limit 200 without the pagination type, bare list', async () => {
    const body = await json(await th.api('GET', '/users', { token: admin }));
    expect(Array.isArray(body)).toBe(true);
    expect(body.length).toBe(200);
  });

  it('default limit 50 with the pagination type, wrapped with _pagination.next', async () => {
    const res = await th.api('GET', '/users?name_filter=p', { token: admin, headers: { Accept: PAGINATION } });
    const body = await json(res);
    expect(body.items.length).toBe(50);
    expect(body._pagination).toMatchObject({ offset: 0, limit: 50, total: 230 });
    expect(body._pagination.next).toMatchObject({ offset: 50, limit: 50 });
    const next = new URL(body._pagination.next.url);
    expect(next.searchParams.get('name_filter')).toBe('p');
    expect(next.searchParams.get('offset')).toBe('50');
    // last page: next is null
    const last = await json(await th.api('GET', '/users?name_filter=p&offset=200&limit=50', { token: admin, headers: { Accept: PAGINATION } }));
    expect(last.items.length).toBe(30);
    expect(last._pagination.next).toBeNull();
  });

  it('a parameter on the media type breaks the match (JupyterHub rule)', async () => {
    const body = await json(await th.api('GET', '/users', { token: admin, headers: { Accept: `${PAGINATION};q=1` } }));
    expect(Array.isArray(body)).toBe(true);
  });

  it('limit clamped to [1, 200]; offset past the end gives an empty list', async () => {
    expect((await json(await th.api('GET', '/users?limit=1000', { token: admin }))).length).toBe(200);
    expect((await json(await th.api('GET', '/users?limit=0', { token: admin }))).length).toBe(1);
    expect((await json(await th.api('GET', '/users?offset=100000', { token: admin }))).length).toBe(0);
  });

  it('bad offset or limit → 400', async () => {
    for (const q of ['offset=abc', 'limit=1.5', 'offset=1e3', 'limit=x']) {
      const res = await th.api('GET', `/users?${q}`, { token: admin });
      expect(res.status, q).toBe(400);
      expect((await json(res)).message).toBe('Invalid argument type, offset and limit must be integers');
    }
  });

  it('bad state filter → 400', async () => {
    expect((await th.api('GET', '/users?state=bogus', { token: admin })).status).toBe(400);
    expect((await th.api('GET', '/users?state=inactive&limit=1', { token: admin })).status).toBe(200);
  });
});

describe('groups API', () => {
  it('create, read, add and remove members, delete', async () => {
    let res = await th.api('POST', '/groups', { token: admin, body: { groups: ['physics', 'chem'], users: ['ellen'] } });
    expect(res.status).toBe(201);
    expect(await json(res)).toEqual([
      { kind: 'group', name: 'physics', users: ['ellen'], roles: [] },
      { kind: 'group', name: 'chem', users: ['ellen'], roles: [] },
    ]);
    expect((await th.api('POST', '/groups', { token: admin, body: { groups: ['physics'] } })).status).toBe(409);
    expect((await th.api('POST', '/groups/physics', { token: admin })).status).toBe(409);
    expect((await th.api('POST', '/groups', { token: admin, body: { groups: ['x'], users: ['nobody-here'] } })).status).toBe(400);
    expect((await th.api('GET', '/groups/x', { token: admin })).status).toBe(404);
    res = await th.api('POST', '/groups/physics/users', { token: admin, body: { users: ['gina'] } });
    expect(res.status).toBe(200);
    expect((await json(res)).users.sort()).toEqual(['ellen', 'gina']);
    expect((await th.api('POST', '/groups/physics/users', { token: admin, body: {} })).status).toBe(400);
    res = await th.api('DELETE', '/groups/physics/users', { token: admin, body: { users: ['ellen'] } });
    expect((await json(res)).users).toEqual(['gina']);
    expect((await json(await th.api('GET', '/users/gina', { token: admin }))).groups).toEqual(['physics']);
    expect((await th.api('DELETE', '/groups/chem', { token: admin })).status).toBe(204);
    expect((await th.api('DELETE', '/groups/chem', { token: admin })).status).toBe(404);
    const list = await json(await th.api('GET', '/groups', { token: admin }));
    expect(list.map((g: any) => g.name)).toEqual(['physics']);
  });

  it('bad group names are refused', async () => {
    expect((await th.api('POST', '/groups', { token: admin, body: { groups: ['a/b'] } })).status).toBe(400);
    expect((await th.api('POST', '/groups', { token: admin, body: { groups: [''] } })).status).toBe(400);
    expect((await th.api('POST', '/groups', { token: admin, body: { groups: ['x\u0001y'] } })).status).toBe(400);
  });
});

describe('tokens API', () => {
  it('returns the token once, stores only a hash; prefix lookup works', async () => {
    const ellen = th.token('ellen');
    const res = await th.api('POST', '/users/ellen/tokens', { token: ellen, body: { note: 'ci', expires_in: 3600 } });
    expect(res.status).toBe(201);
    const t = await json(res);
    expect(typeof t.token).toBe('string');
    expect(t.token.length).toBeGreaterThanOrEqual(32);
    expect(t).toMatchObject({ user: 'ellen', kind: 'api_token', note: 'ci', oauth_client: 'JupyterHub', roles: [] });
    expect(t.id).toMatch(/^a\d+$/);
    const expires = Date.parse(t.expires_at);
    expect(Math.abs(expires - (Date.now() + 3600_000))).toBeLessThan(60_000);
    const row = db().prepare('SELECT * FROM api_tokens WHERE id = ?').get(Number(t.id.slice(1))) as { hashed: string; prefix: string };
    expect(row.hashed).not.toBe(t.token);
    expect(row.hashed).not.toContain(t.token);
    expect(row.prefix).toBe(tokenPrefix(t.token));
    const all = db().prepare('SELECT hashed FROM api_tokens').all() as { hashed: string }[];
    expect(all.some((r) => r.hashed.includes(t.token))).toBe(false);
    // the new token works
    expect((await json(await th.api('GET', '/user', { token: t.token }))).name).toBe('ellen');
    // GET never shows the value again
    const one = await json(await th.api('GET', `/users/ellen/tokens/${t.id}`, { token: ellen }));
    expect(one.token).toBeUndefined();
    const list = await json(await th.api('GET', '/users/ellen/tokens', { token: ellen }));
    expect(list.api_tokens.length).toBeGreaterThanOrEqual(2);
    expect(list.api_tokens.some((x: any) => 'token' in x)).toBe(false);
  });

  it('a token with the right prefix but wrong rest is refused', async () => {
    const t = th.token('ellen');
    const forged = t.slice(0, 4) + 'f'.repeat(t.length - 4);
    expect((await th.api('GET', '/user', { token: forged })).status).toBe(403);
  });

  it('scopes are narrowed and expanded; more than the owner holds → 400', async () => {
    const ellen = th.token('ellen');
    const res = await th.api('POST', '/users/ellen/tokens', { token: ellen, body: { scopes: ['read:users!user=ellen'] } });
    expect(res.status).toBe(201);
    const t = await json(res);
    expect(t.scopes).toEqual(['read:users!user=ellen', 'read:users:activity!user=ellen', 'read:users:groups!user=ellen', 'read:users:name!user=ellen']);
    const more = await th.api('POST', '/users/ellen/tokens', { token: ellen, body: { scopes: ['admin:users'] } });
    expect(more.status).toBe(400);
    expect((await json(more)).message).toMatch(/not held by User ellen/);
    expect((await th.api('POST', '/users/ellen/tokens', { token: ellen, body: { scopes: ['nonsense:scope'] } })).status).toBe(400);
    expect((await th.api('POST', '/users/ellen/tokens', { token: ellen, body: { scopes: ['self'], roles: ['user'] } })).status).toBe(400);
    // the narrowed token really is narrow
    await expect(th.api('GET', '/users/ellen/tokens', { token: t.token }).then((r) => r.status)).resolves.toBe(403);
  });

  it('bad expires_in → 400; expired tokens stop working', async () => {
    const ellen = th.token('ellen');
    for (const expires_in of [-5, 0, 'soon', 1e12]) {
      expect((await th.api('POST', '/users/ellen/tokens', { token: ellen, body: { expires_in } })).status, String(expires_in)).toBe(400);
    }
    const t = await json(await th.api('POST', '/users/ellen/tokens', { token: ellen, body: { expires_in: 1 } }));
    db().prepare('UPDATE api_tokens SET expires_at = ? WHERE id = ?').run('2000-01-01T00:00:00.000Z', Number(t.id.slice(1)));
    expect((await th.api('GET', '/user', { token: t.token })).status).toBe(403);
  });

  it('revoke: 204, the token stops working, 404 after; another user cannot revoke it', async () => {
    const ellen = th.token('ellen');
    const hank = th.token('hank');
    const t = await json(await th.api('POST', '/users/ellen/tokens', { token: ellen, body: {} }));
    expect(t.note).toBe('Requested via api');
    expect((await th.api('DELETE', `/users/ellen/tokens/${t.id}`, { token: hank })).status).toBe(404);
    // hank addressing his own tokens with ellen's token id: not found
    expect((await th.api('DELETE', `/users/hank/tokens/${t.id}`, { token: hank })).status).toBe(404);
    expect((await th.api('GET', '/user', { token: t.token })).status).toBe(200);
    const res = await th.api('DELETE', `/users/ellen/tokens/${t.id}`, { token: ellen });
    expect(res.status).toBe(204);
    expect((await th.api('GET', '/user', { token: t.token })).status).toBe(403);
    expect((await th.api('DELETE', `/users/ellen/tokens/${t.id}`, { token: ellen })).status).toBe(404);
    expect((await th.api('GET', `/users/ellen/tokens/bogus`, { token: ellen })).status).toBe(404);
  });

  it('an admin creates a token for another user with the "by user" note', async () => {
    const t = await json(await th.api('POST', '/users/ellen/tokens', { token: admin, body: {} }));
    expect(t.note).toBe('Requested via api by user admin');
    expect((await json(await th.api('GET', '/user', { token: t.token }))).name).toBe('ellen');
  });
});

describe('activity API', () => {
  let tok: string;
  beforeAll(() => {
    const hub = th.running.hub;
    const u = hub.stores.users.ensure('ivan').user;
    hub.stores.servers.ensure(u.id, '');
    // A server token (note "Server at ..."): using it does not itself count as user activity.
    tok = newToken();
    hub.stores.tokens.insert({ userId: u.id, prefix: tokenPrefix(tok), hashed: hashToken(tok), scopes: ['users:activity!user', 'access:servers!user'], note: 'Server at /user/ivan/' });
  });
  const lastActivity = () => (db().prepare("SELECT last_activity FROM users WHERE name = 'ivan'").get() as { last_activity: string | null }).last_activity;
  const serverActivity = () =>
    (db().prepare("SELECT s.last_activity FROM servers s JOIN users u ON u.id = s.user_id WHERE u.name = 'ivan' AND s.name = ''").get() as { last_activity: string | null }).last_activity;

  it('records activity for the user and the server', async () => {
    const ts = new Date(Date.now() - 60_000).toISOString();
    const res = await th.api('POST', '/users/ivan/activity', { token: tok, body: { servers: { '': { last_activity: ts } }, last_activity: ts } });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('');
    expect(Date.parse(lastActivity()!)).toBe(Date.parse(ts));
    expect(Date.parse(serverActivity()!)).toBe(Date.parse(ts));
  });

  it('only moves forward', async () => {
    const before = lastActivity()!;
    const sBefore = serverActivity()!;
    const old = new Date(Date.now() - 3600_000).toISOString();
    const res = await th.api('POST', '/users/ivan/activity', { token: tok, body: { servers: { '': { last_activity: old } }, last_activity: old } });
    expect(res.status).toBe(200);
    expect(lastActivity()).toBe(before);
    expect(serverActivity()).toBe(sBefore);
  });

  it('rejects future timestamps, unknown servers, bad types; changes nothing', async () => {
    const before = lastActivity();
    const future = new Date(Date.now() + 2 * 3600_000).toISOString();
    let res = await th.api('POST', '/users/ivan/activity', { token: tok, body: { last_activity: future } });
    expect(res.status).toBe(400);
    expect((await json(res)).message).toMatch(/Rejecting activity from more than an hour in the future/);
    res = await th.api('POST', '/users/ivan/activity', { token: tok, body: { servers: { nosuch: { last_activity: new Date().toISOString() } } } });
    expect(res.status).toBe(400);
    expect((await json(res)).message).toBe("No such server 'nosuch' for user ivan");
    for (const body of [{}, { last_activity: 5 }, { last_activity: 'yesterday-ish' }, { servers: [] }, { servers: { '': null } }, { servers: { '': { last_activity: future } } }]) {
      res = await th.api('POST', '/users/ivan/activity', { token: tok, body });
      expect(res.status, JSON.stringify(body)).toBe(400);
    }
    // a valid server entry next to an unknown one: nothing applied
    const fresh = new Date().toISOString();
    res = await th.api('POST', '/users/ivan/activity', { token: tok, body: { last_activity: fresh, servers: { '': { last_activity: fresh }, nosuch: { last_activity: fresh } } } });
    expect(res.status).toBe(400);
    expect(lastActivity()).toBe(before);
  });

  it('accepts naive timestamps as UTC', async () => {
    const ts = new Date(Date.now() - 1000).toISOString().replace('Z', '');
    const res = await th.api('POST', '/users/ivan/activity', { token: tok, body: { last_activity: ts } });
    expect(res.status).toBe(200);
    expect(Date.parse(lastActivity()!)).toBe(Date.parse(ts + 'Z'));
  });
});
