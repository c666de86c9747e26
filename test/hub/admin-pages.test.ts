/**
 * Admin and home page form posts over HTTP (a real hub, atrium-proxy and the node stub server):
 * start all on the current page (only that page's users, the view kept), the CSRF field and the
 * scope checks on every admin form, the named-server limit on the home page's create form, and
 * groups read-only when the authenticator manages them. The browser flows are in
 * test/e2e/admin.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, startTestHub, waitFor, type TestHub } from './harness.js';

const FORM = { 'Content-Type': 'application/x-www-form-urlencoded' };
let th: TestHub;
const hub = () => th.running.hub;

async function xsrfOf(b: Browser, path: string): Promise<string> {
  const html = await (await b.request('GET', path)).text();
  return /name="_xsrf" value="([^"]+)"/.exec(html)![1]!;
}
const post = (b: Browser, path: string, fields: Record<string, string>) =>
  b.request('POST', path, { body: new URLSearchParams(fields).toString(), headers: FORM });

beforeAll(async () => {
  th = await startTestHub({ spawner: { namedServers: { enabled: true, limitPerUser: 1 } } });
  for (const n of ['amy-1', 'amy-2', 'amy-3', 'bert']) hub().stores.users.ensure(n);
});
afterAll(async () => {
  await th?.teardown();
});

describe('admin forms', () => {
  it('start all starts the default servers of the users on the page only, and returns to the same view', async () => {
    const b = new Browser(th.url);
    await b.login('admin', 'pw', '/hub/admin');
    const xsrf = await xsrfOf(b, '/hub/admin?q=amy');
    const res = await post(b, '/hub/admin/start-all', { _xsrf: xsrf, view: 'q=amy&per=25' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/hub/admin?q=amy&per=25');
    await waitFor(() => ['amy-1', 'amy-2', 'amy-3'].every((n) => hub().spawns.get(n, '')?.phase === 'running'), 30_000);
    expect(hub().spawns.get('bert', '')).toBeUndefined();
    // A view field cannot become an open redirect: it is parsed and rebuilt.
    const odd = await post(b, '/hub/admin/stop/amy-1', { _xsrf: xsrf, view: '//evil.example/x?q=a' });
    expect(odd.status).toBe(303);
    expect(odd.headers.get('location')).toMatch(/^\/hub\/admin(\?|$)/);
    await post(b, '/hub/admin/stop-all', { _xsrf: xsrf });
    await waitFor(() => hub().spawns.active.size === 0, 30_000);
  });

  it('every admin form needs the session\'s _xsrf; non-admins get 403 and change nothing', async () => {
    const b = new Browser(th.url);
    await b.login('admin', 'pw', '/hub/admin');
    for (const [path, fields] of [
      ['/hub/admin/users/bert', { name: 'bert2' }],
      ['/hub/admin/users/bert/delete', {}],
      ['/hub/admin/groups', { name: 'g1' }],
      ['/hub/admin/spawn/bert', {}],
    ] as const) {
      const res = await post(b, path, { ...fields, _xsrf: 'wrong' });
      expect(res.status, path).toBe(403);
    }
    expect(hub().stores.users.get('bert')).toBeDefined();
    expect(hub().stores.groups.get('g1')).toBeUndefined();

    const user = new Browser(th.url);
    await user.login('bert', 'pw', '/hub/home');
    const xsrf = await xsrfOf(user, '/hub/home');
    for (const path of ['/hub/admin/users/amy-2/delete', '/hub/admin/groups', '/hub/admin/stop-all', '/hub/admin/spawn/amy-2']) {
      const res = await post(user, path, { _xsrf: xsrf, name: 'x' });
      expect(res.status, path).toBe(403);
    }
    expect(hub().stores.users.get('amy-2')).toBeDefined();
    expect(hub().spawns.get('amy-2', '')).toBeUndefined();
  });
});

describe('home page forms', () => {
  it('create refuses over the limit with the message; a bad display name is a 400 page; delete frees the slot', async () => {
    const b = new Browser(th.url);
    await b.login('bert', 'pw', '/hub/home');
    const xsrf = await xsrfOf(b, '/hub/home');
    let res = await post(b, '/hub/home/servers', { _xsrf: xsrf, name: 'one', display_name: 'x'.repeat(61) });
    expect(res.status).toBe(400);
    expect(await res.text()).toMatch(/at most 60 characters/);
    res = await post(b, '/hub/home/servers', { _xsrf: xsrf, name: 'one', display_name: '  Course <b>work</b> ' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/hub/spawn/bert/one');
    const id = hub().stores.users.get('bert')!.id;
    expect(hub().stores.servers.get(id, 'one')?.display_name).toBe('Course <b>work</b>');
    const home = await (await b.request('GET', '/hub/home')).text();
    expect(home).toContain('Course &#60;b&#62;work&#60;/b&#62;');
    expect(home).toMatch(/limit is 1\. Delete one on your home page/);
    res = await post(b, '/hub/home/servers', { _xsrf: xsrf, name: 'two' });
    expect(res.status).toBe(400);
    expect(await res.text()).toMatch(/You have 1 named server and the limit is 1/);
    expect(hub().stores.servers.get(id, 'two')).toBeUndefined();
    // Another user's server cannot be deleted from this form: it is always the signed-in user's.
    res = await post(b, '/hub/home/servers/one/delete', { _xsrf: xsrf });
    expect(res.status).toBe(303);
    expect(hub().stores.servers.get(id, 'one')).toBeUndefined();
    res = await post(b, '/hub/home/servers/one/delete', { _xsrf: xsrf });
    expect(res.status).toBe(404);
  });
});

describe('groups managed by the authenticator', () => {
  it('admin group forms are refused with the managed-groups error', async () => {
    const managed = await startTestHub({ authenticator: { manageGroups: true } });
    try {
      const b = new Browser(managed.url);
      await b.login('admin', 'pw', '/hub/admin/groups');
      const html = await (await b.request('GET', '/hub/admin/groups')).text();
      expect(html).toMatch(/managed by the authenticator/);
      expect(html).not.toContain('Create group');
      const xsrf = await xsrfOf(b, '/hub/admin');
      const res = await post(b, '/hub/admin/groups', { _xsrf: xsrf, name: 'g1' });
      expect(res.status).toBe(400);
      expect(managed.running.hub.stores.groups.get('g1')).toBeUndefined();
    } finally {
      await managed.teardown();
    }
  });
});
