/**
 * Named-server lifecycle and admin edits through the REST API: delete with {"remove": true}
 * (running or stopped), the limit message that says what to do, per-server activity, user rename
 * onto an existing name (400, as JupyterHub), delete user stops servers first, group rename
 * (PATCH, JupyterHub 5). A real hub with a real atrium-proxy and the node stub server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub, waitFor, type TestHub } from '../harness.js';

let th: TestHub;
let admin: string;
const hub = () => th.running.hub;

beforeAll(async () => {
  th = await startTestHub({
    spawner: { namedServers: { enabled: true, limitPerUser: 2 } },
    // The hub reads the proxy's per-route activity at each full route check (JupyterHub: 5 min).
    proxy: { checkRoutesIntervalSeconds: 5 },
  });
  // olga runs two named servers at once; nina tests the limit of 2.
  admin = th.token('admin');
});
afterAll(async () => {
  await th?.teardown();
});

async function json(res: Response): Promise<any> {
  const text = await res.text();
  return text ? JSON.parse(text) : null;
}

describe('named servers: delete, limit, activity', () => {
  it('stopped servers count toward the limit; the message says to delete one; remove frees a slot', async () => {
    expect((await th.api('POST', '/users/nina', { token: admin })).status).toBe(201);
    for (const n of ['one', 'two']) {
      expect([201, 202]).toContain((await th.api('POST', `/users/nina/servers/${n}`, { token: admin })).status);
      await waitFor(() => hub().spawns.get('nina', n)?.phase === 'running');
      expect((await th.api('DELETE', `/users/nina/servers/${n}`, { token: admin })).status).toBe(204);
    }
    const refused = await th.api('POST', '/users/nina/servers/three', { token: admin });
    expect(refused.status).toBe(400);
    const body = await json(refused);
    expect(body.message).toBe('You have 2 named servers and the limit is 2. Delete one on your home page (stopped servers count too) to create another.');
    // Delete a stopped named server: its row goes, the slot is free.
    expect((await th.api('DELETE', '/users/nina/servers/one', { token: admin, body: { remove: true } })).status).toBe(204);
    const u = await json(await th.api('GET', '/users/nina?include_stopped_servers=1', { token: admin }));
    expect(Object.keys(u.servers).sort()).toEqual(['two']);
    expect([201, 202]).toContain((await th.api('POST', '/users/nina/servers/three', { token: admin })).status);
    await waitFor(() => hub().spawns.get('nina', 'three')?.phase === 'running');
    // Delete a running one: stopped first, then removed (its route goes too).
    expect((await th.api('DELETE', '/users/nina/servers/three', { token: admin, body: { remove: true } })).status).toBe(204);
    expect(hub().spawns.get('nina', 'three')).toBeUndefined();
    const routes = await hub().routes.list();
    expect(Object.keys(routes).some((k) => k.includes('/user/nina/three'))).toBe(false);
    const id = hub().stores.users.get('nina')!.id;
    expect(hub().stores.servers.ofUser(id).map((s) => s.name)).toEqual(['two']);
  });

  it('per-server last activity from the activity API; display_name in the server model', async () => {
    const id = hub().stores.users.get('nina')!.id;
    const row = hub().stores.servers.get(id, 'two')!;
    hub().stores.servers.setDisplayName(row.id, 'Thesis work');
    // Activity only moves forward (the stop above touched it), so report a moment ahead.
    const ts = new Date(Date.now() + 60_000).toISOString();
    const res = await th.api('POST', '/users/nina/activity', { token: admin, body: { servers: { two: { last_activity: ts } } } });
    expect(res.status).toBe(200);
    const u = await json(await th.api('GET', '/users/nina?include_stopped_servers=1', { token: admin }));
    expect(u.servers.two.last_activity).toBe(ts);
    expect(u.servers.two.display_name).toBe('Thesis work');
  });
});

describe('per-server activity from the proxy', () => {
  it('a request through atrium-proxy moves that server\'s last_activity (and not the other server\'s)', async () => {
    expect((await th.api('POST', '/users/olga', { token: admin })).status).toBe(201);
    for (const n of ['act-a', 'act-b']) {
      expect([201, 202]).toContain((await th.api('POST', `/users/olga/servers/${n}`, { token: admin })).status);
      await waitFor(() => hub().spawns.get('olga', n)?.phase === 'running');
    }
    const id = hub().stores.users.get('olga')!.id;
    const act = (n: string) => hub().stores.servers.get(id, n)!.last_activity ?? '';
    // Wait until the hub has caught up with the proxy's idea of both routes (a new route starts
    // with its creation time); from then on only a request through the proxy moves the value.
    await waitFor(async () => {
      const routes = await hub().routes.list();
      return ['act-a', 'act-b'].every((n) => act(n) >= new Date(String(routes[`/user/olga/${n}`]?.last_activity)).toISOString());
    }, 15_000);
    const [a0, b0] = [act('act-a'), act('act-b')];
    const res = await fetch(`${th.url}/user/olga/act-a/api/status`);
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    await waitFor(() => act('act-a') > a0, 15_000);
    expect(act('act-b')).toBe(b0);
    for (const n of ['act-a', 'act-b']) await th.api('DELETE', `/users/olga/servers/${n}`, { token: admin, body: { remove: true } });
  });
});

describe('users and groups', () => {
  it('renaming a user onto an existing name is 400 and changes nothing; a free name works', async () => {
    for (const n of ['ruth', 'sam']) await th.api('POST', `/users/${n}`, { token: admin });
    const res = await th.api('PATCH', '/users/ruth', { token: admin, body: { name: 'sam' } });
    expect(res.status).toBe(400);
    expect((await json(res)).message).toMatch(/sam already exists/);
    expect(hub().stores.users.get('ruth')).toBeDefined();
    const ok = await th.api('PATCH', '/users/ruth', { token: admin, body: { name: 'ruth2', admin: true } });
    expect(ok.status).toBe(200);
    expect(await json(ok)).toMatchObject({ name: 'ruth2', admin: true });
    // A non-admin token may not rename anyone.
    const sam = th.token('sam');
    expect((await th.api('PATCH', '/users/ruth2', { token: sam, body: { name: 'x' } })).status).toBe(403);
  });

  it('GET /users pages in the database: name_filter, offset, limit and the pagination envelope', async () => {
    const db = hub().stores.db;
    const ins = db.prepare("INSERT INTO users (name, admin, created) VALUES (?, 0, '2026-01-01T00:00:00.000Z')");
    db.transaction(() => {
      for (let i = 0; i < 120; i++) ins.run(`pg-${String(i).padStart(3, '0')}`);
    })();
    const res = await th.api('GET', '/users?name_filter=pg-&offset=100&limit=50', { token: admin, headers: { Accept: 'application/jupyterhub-pagination+json' } });
    const body = await json(res);
    expect(body._pagination).toMatchObject({ offset: 100, limit: 50, total: 120, next: null });
    expect(body.items.map((u: { name: string }) => u.name)).toEqual(Array.from({ length: 20 }, (_, i) => `pg-${100 + i}`));
    const first = await json(await th.api('GET', '/users?name_filter=PG-1&limit=5', { token: admin, headers: { Accept: 'application/jupyterhub-pagination+json' } }));
    expect(first._pagination).toMatchObject({ total: 20, next: { offset: 5, limit: 5 } });
    // Without the envelope: a plain list, at most 200 (JupyterHub's default).
    const plain = await json(await th.api('GET', '/users', { token: admin }));
    expect(Array.isArray(plain)).toBe(true);
  });

  it('deleting a user stops their servers first', async () => {
    await th.api('POST', '/users/tess', { token: admin });
    expect([201, 202]).toContain((await th.api('POST', '/users/tess/server', { token: admin })).status);
    await waitFor(() => hub().spawns.get('tess', '')?.phase === 'running');
    expect((await th.api('DELETE', '/users/tess', { token: admin })).status).toBe(204);
    expect(hub().spawns.get('tess', '')).toBeUndefined();
    expect(hub().stores.users.get('tess')).toBeUndefined();
  });

  it('PATCH /groups/NAME {name} renames (members stay); onto an existing group 409; bad names 400', async () => {
    await th.api('POST', '/groups/course-a', { token: admin, body: { users: ['sam'] } });
    await th.api('POST', '/groups/course-b', { token: admin });
    const clash = await th.api('PATCH', '/groups/course-a', { token: admin, body: { name: 'course-b' } });
    expect(clash.status).toBe(409);
    expect((await th.api('PATCH', '/groups/course-a', { token: admin, body: { name: 'a/b' } })).status).toBe(400);
    expect((await th.api('PATCH', '/groups/course-a', { token: admin, body: { nam: 'x' } })).status).toBe(400);
    const ok = await th.api('PATCH', '/groups/course-a', { token: admin, body: { name: 'course-2026' } });
    expect(ok.status).toBe(200);
    expect(await json(ok)).toMatchObject({ name: 'course-2026', users: ['sam'] });
    expect((await th.api('GET', '/groups/course-a', { token: admin })).status).toBe(404);
    expect((await th.api('PATCH', '/groups/nope', { token: admin, body: { name: 'x' } })).status).toBe(404);
  });
});
