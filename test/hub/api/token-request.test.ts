/**
 * A token never gets more than it asked for (Safety round item 3): a form-typed body is refused
 * instead of being ignored, and scopes or roles the owner (or the requesting token) does not hold
 * are a 400 naming them. Siblings: every API route that reads a body refuses form bodies.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub, type TestHub } from '../harness.js';

let th: TestHub;
let admin: string;
let alice: string;

beforeAll(async () => {
  th = await startTestHub({ spawner: { namedServers: { enabled: true } } });
  admin = th.token('admin');
  alice = th.token('alice');
});
afterAll(async () => {
  await th?.teardown();
});

const hub = () => th.running.hub;
const tokenCount = (user: string) => hub().stores.tokens.ofUser(hub().stores.users.get(user)!.id).length;

describe('POST /users/NAME/tokens', () => {
  it('a form-typed body with JSON in it is refused (415), not read as "no scopes asked"', async () => {
    const before = tokenCount('alice');
    for (const type of ['application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      const res = await th.api('POST', '/users/alice/tokens', { token: alice, body: JSON.stringify({ scopes: ['read:users!user=alice'] }), headers: { 'Content-Type': type } });
      expect([400, 415], type).toContain(res.status);
      const body = await res.json();
      expect(body.message, type).toMatch(/JSON/);
      expect(body.token).toBeUndefined();
    }
    const form = await th.api('POST', '/users/alice/tokens', { token: alice, body: 'scopes=read:users', headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
    expect(form.status).toBe(415);
    expect(tokenCount('alice')).toBe(before);
  });

  it('roles or scopes the owner lacks: 400 naming them, no token', async () => {
    const before = tokenCount('alice');
    let res = await th.api('POST', '/users/alice/tokens', { token: alice, body: { roles: ['admin'] } });
    expect(res.status).toBe(400);
    let msg = (await res.json()).message as string;
    expect(msg).toMatch(/^Not assigning requested roles admin: scopes .*admin:users.* not held by User alice$/);
    res = await th.api('POST', '/users/alice/tokens', { token: alice, body: { scopes: ['admin:users', 'read:users!user=alice'] } });
    expect(res.status).toBe(400);
    msg = (await res.json()).message;
    expect(msg).toMatch(/Not assigning requested scopes .*admin:users/);
    expect(msg).not.toMatch(/read:users!user=alice/);
    res = await th.api('POST', '/users/alice/tokens', { token: alice, body: { roles: ['nosuchrole'] } });
    expect(res.status).toBe(400);
    expect((await res.json()).message).toMatch(/Unknown roles: nosuchrole/);
    expect(tokenCount('alice')).toBe(before);
  });

  it('what is held is granted exactly: role user gives self, not inherit; an admin may ask for admin', async () => {
    let res = await th.api('POST', '/users/alice/tokens', { token: alice, body: { roles: ['user'] } });
    expect(res.status).toBe(201);
    const t = await res.json();
    expect(t.scopes).not.toContain('inherit');
    const who = await (await th.api('GET', '/user', { token: t.token })).json();
    expect(who.scopes).not.toContain('admin:users');
    res = await th.api('POST', '/users/admin/tokens', { token: admin, body: { roles: ['admin'] } });
    expect(res.status).toBe(201);
    const a = await res.json();
    expect((await th.api('GET', '/users', { token: a.token })).status).toBe(200);
  });

  it('a limited token cannot mint a broader one (default inherit included)', async () => {
    const limited = th.token('alice', ['tokens!user=alice', 'read:users!user=alice']);
    const before = tokenCount('alice');
    let res = await th.api('POST', '/users/alice/tokens', { token: limited, body: {} });
    expect(res.status).toBe(400);
    expect((await res.json()).message).toMatch(/not held by the requester \(token of alice\)/);
    res = await th.api('POST', '/users/alice/tokens', { token: limited, body: { scopes: ['servers!user=alice'] } });
    expect(res.status).toBe(400);
    expect((await res.json()).message).toMatch(/servers!user=alice/);
    expect(tokenCount('alice')).toBe(before);
    res = await th.api('POST', '/users/alice/tokens', { token: limited, body: { scopes: ['read:users!user=alice'] } });
    expect(res.status).toBe(201);
  });
});

describe('every API route that reads a body refuses a form body', () => {
  const FORM = { 'Content-Type': 'application/x-www-form-urlencoded' };
  const cases: [string, string, string][] = [
    ['POST', '/users', '{"usernames":["formmade"]}'],
    ['POST', '/users/formmade2', '{"admin":true}'],
    ['PATCH', '/users/alice', '{"admin":true}'],
    ['POST', '/users/alice/activity', '{"last_activity":"2020-01-01T00:00:00Z"}'],
    ['POST', '/users/alice/server', '{"image":"x"}'],
    ['POST', '/users/alice/servers/nb', '{"image":"x"}'],
    ['DELETE', '/users/alice/servers/nb', '{"remove":true}'],
    ['POST', '/groups/g1', '{"users":["alice"]}'],
    ['POST', '/groups/g0/users', '{"users":["alice"]}'],
    ['POST', '/users/alice/tokens', '{"scopes":["self"]}'],
  ];
  beforeAll(async () => {
    expect((await th.api('POST', '/groups/g0', { token: admin, body: {} })).status).toBe(201);
  });
  it.each(cases)('%s %s → 415, nothing changed', async (method, path, body) => {
    const res = await th.api(method, path, { token: admin, body, headers: FORM });
    expect(res.status).toBe(415);
    expect((await res.json()).message).toMatch(/JSON/);
  });
  it('and nothing was created or changed', () => {
    expect(hub().stores.users.get('formmade')).toBeUndefined();
    expect(hub().stores.users.get('formmade2')).toBeUndefined();
    expect(hub().stores.users.get('alice')!.admin).toBeFalsy();
    expect(hub().spawns.get('alice', '')).toBeUndefined();
    expect(hub().spawns.get('alice', 'nb')).toBeUndefined();
    expect(hub().stores.groups.get('g1')).toBeFalsy();
    expect(hub().stores.groups.groupsOf(hub().stores.users.get('alice')!.id)).toEqual([]);
  });
});
