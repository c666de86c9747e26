/**
 * JupyterHub API extras (issue 10 item 8) on a real hub + atrium-proxy with stub servers:
 * service tokens as API callers, GET /services[/NAME], GET /authorizations/token/TOKEN,
 * PATCH /proxy, rename onto a taken name, and the exact REST calls jupyterhub-idle-culler 1.x
 * makes with its service token (it is not packaged in Debian, so its calls are replayed as its
 * source makes them: GET {api}/, GET /users?state=ready paginated, DELETE the server (with
 * {"remove": true} for named servers), GET the user while 202 pending, DELETE the user).
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub, waitFor, type TestHub } from '../harness.js';

const CULLER_TOKEN = 'idle-culler-service-token-abcdef0123456789';
const READER_TOKEN = 'reader-service-token-abcdef0123456789';

describe('JupyterHub API extras and service tokens', () => {
  let th: TestHub;
  let admin: string;
  let alice: string;
  beforeAll(async () => {
    th = await startTestHub({
      spawner: { namedServers: { enabled: true } },
      services: [
        // What jupyterhub-idle-culler's README asks for (JupyterHub 3 scopes), plus user culling.
        { name: 'idle-culler', apiToken: CULLER_TOKEN, scopes: ['list:users', 'read:users:activity', 'read:servers', 'delete:servers', 'admin:users'] },
        { name: 'reader', apiToken: READER_TOKEN, scopes: ['list:services', 'read:services!service=reader'], info: { team: 'teaching' } },
      ],
    });
    admin = th.token('admin');
    alice = th.token('alice');
  });
  afterAll(async () => {
    await th?.teardown();
  });

  it('a service token is an API identity with its own scopes; whoami answers the service model', async () => {
    const me = (await (await th.api('GET', '/user', { token: CULLER_TOKEN })).json()) as Record<string, unknown>;
    expect(me).toMatchObject({ kind: 'service', name: 'idle-culler', admin: false });
    expect(me.scopes).toContain('list:users');
    // No more than it was given: no groups, no shutdown.
    expect((await th.api('GET', '/groups', { token: CULLER_TOKEN })).status).toBe(403);
    expect((await th.api('POST', '/shutdown', { token: CULLER_TOKEN })).status).toBe(403);
    // A near miss is an unknown token (anonymous), never a service.
    expect((await th.api('GET', '/user', { token: CULLER_TOKEN.slice(0, -1) + 'x' })).status).toBe(403);
  });

  it('GET /services lists what the caller may list; GET /services/NAME is 404 for unknown names (JupyterHub: 500)', async () => {
    const all = (await (await th.api('GET', '/services', { token: admin })).json()) as Record<string, Record<string, unknown>>;
    expect(Object.keys(all).sort()).toEqual(['idle-culler', 'reader']);
    expect(all.reader).toEqual({ kind: 'service', name: 'reader', admin: false, roles: [], url: '', prefix: '', command: [], pid: 0, info: { team: 'teaching' }, display: true });
    expect((await th.api('GET', '/services', { token: alice })).status).toBe(403);
    const one = await th.api('GET', '/services/nope', { token: admin });
    expect(one.status).toBe(404);
    expect(await one.json()).toEqual({ status: 404, message: 'No such service' });
    // A filtered scope: reader sees only itself, and the other service does not exist for it.
    expect((await (await th.api('GET', '/services/reader', { token: READER_TOKEN })).json()).info).toEqual({ team: 'teaching' });
    expect((await th.api('GET', '/services/idle-culler', { token: READER_TOKEN })).status).toBe(404);
  });

  it('GET /authorizations/token/TOKEN answers the owner model to any header token, 404 for unknown, 403 without one', async () => {
    const r = await th.api('GET', `/authorizations/token/${alice}`, { token: admin });
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({ kind: 'user', name: 'alice', admin: false });
    // alice asking about admin's token: name and kind only (her scopes do not reach admin).
    const limited = (await (await th.api('GET', `/authorizations/token/${admin}`, { token: alice })).json()) as Record<string, unknown>;
    expect(limited).toMatchObject({ kind: 'user', name: 'admin' });
    expect(limited.servers).toBeUndefined();
    expect((await (await th.api('GET', `/authorizations/token/${CULLER_TOKEN}`, { token: admin })).json()).kind).toBe('service');
    expect((await th.api('GET', '/authorizations/token/0123456789abcdef0123', { token: admin })).status).toBe(404);
    expect((await th.api('GET', `/authorizations/token/${alice}`)).status).toBe(403);
    expect((await th.api('POST', '/authorizations/token', { token: admin, body: {} })).status).toBe(404);
  });

  it('renaming a user onto an existing name is 400', async () => {
    th.token('bert');
    const r = await th.api('PATCH', '/users/bert', { token: admin, body: { name: 'alice' } });
    expect(r.status).toBe(400);
    expect(((await r.json()) as { message: string }).message).toContain('alice already exists');
  });

  it('PATCH /proxy checks its body, updates the client and re-syncs routes', async () => {
    expect((await th.api('PATCH', '/proxy', { token: admin })).status).toBe(400);
    expect((await th.api('PATCH', '/proxy', { token: admin, body: { api_url: 'ftp://x' } })).status).toBe(400);
    expect((await th.api('PATCH', '/proxy', { token: admin, body: { bogus: 1 } })).status).toBe(400);
    expect((await th.api('PATCH', '/proxy', { token: alice, body: {} })).status).toBe(403);
    // Delete the hub's own route behind the hub's back; PATCH with the same settings restores it.
    const api = th.config.proxy.apiUrl;
    const proxyToken = readFileSync(`${th.stateDir}/proxy-token`, 'utf8').trim();
    const del = await fetch(`${api}/api/routes/`, { method: 'DELETE', headers: { Authorization: `token ${proxyToken}` } });
    expect(del.status).toBe(204);
    // Without the hub route the proxy cannot reach the hub: ask the hub directly.
    const direct = await fetch(`${th.running.hubUrl}/hub/api/proxy`, {
      method: 'PATCH',
      headers: { Authorization: `token ${admin}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ api_url: api, auth_token: proxyToken }),
    });
    expect(direct.status).toBe(200);
    const routes = (await (await fetch(`${api}/api/routes`, { headers: { Authorization: `token ${proxyToken}` } })).json()) as Record<string, unknown>;
    expect(routes['/']).toBeTruthy();
    // Settings the proxy refuses are a 400 naming the problem, and the old ones stay in use.
    const bad = await fetch(`${th.running.hubUrl}/hub/api/proxy`, {
      method: 'PATCH',
      headers: { Authorization: `token ${admin}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ auth_token: 'wrong-token' }),
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { message: string }).message).toContain('answered 403');
    expect((await th.api('GET', '/proxy', { token: admin })).status).toBe(200);
    const fixed = await fetch(`${th.running.hubUrl}/hub/api/proxy`, {
      method: 'PATCH',
      headers: { Authorization: `token ${admin}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ auth_token: proxyToken }),
    });
    expect(fixed.status).toBe(200);
  });

  it("jupyterhub-idle-culler's calls work with its service token", async () => {
    // Three users with servers: carol (default), dan (named 'lab'), erin (default).
    for (const [u, path] of [['carol', '/users/carol/server'], ['dan', '/users/dan/servers/lab'], ['erin', '/users/erin/server']] as const) {
      th.token(u);
      expect([201, 202]).toContain((await th.api('POST', path, { token: admin })).status);
    }
    await waitFor(() => ['carol/', 'dan/lab', 'erin/'].every((k) => th.running.hub.spawns.active.get(k)?.phase === 'running'), 20_000);
    const h = { Authorization: `token ${CULLER_TOKEN}` };
    const base = `${th.url}/hub/api`;
    // 1. The version check (it decides whether ?state= is supported: >= 1.3.0).
    const root = await fetch(`${base}/`, { headers: h });
    expect(((await root.json()) as { version: string }).version).toBe('3.0.0');
    // 2. Paginated users in state "ready", following _pagination.next.
    const seen: Record<string, { servers: Record<string, { last_activity: string; started: string; pending: null | string; ready: boolean }> }> = {};
    let url: string | null = `${base}/users?state=ready&limit=2`;
    let pages = 0;
    while (url) {
      const res: Response = await fetch(url, { headers: { ...h, Accept: 'application/jupyterhub-pagination+json' } });
      expect(res.status).toBe(200);
      const page = (await res.json()) as { items: { name: string; servers: never }[]; _pagination: { next: { url: string } | null } };
      for (const u of page.items) seen[u.name] = u as never;
      url = page._pagination.next?.url ?? null;
      pages++;
    }
    expect(pages).toBe(2);
    expect(Object.keys(seen).sort()).toEqual(['carol', 'dan', 'erin']);
    expect(seen.dan!.servers.lab).toMatchObject({ ready: true, pending: null });
    expect(typeof seen.carol!.servers['']!.last_activity).toBe('string');
    expect(typeof seen.carol!.servers['']!.started).toBe('string');
    // 3. Cull: the default server, the named one with remove (--remove-named-servers).
    const d1 = await fetch(`${base}/users/carol/server`, { method: 'DELETE', headers: h });
    expect([202, 204]).toContain(d1.status);
    const d2 = await fetch(`${base}/users/dan/servers/lab`, { method: 'DELETE', headers: { ...h, 'Content-Type': 'application/json' }, body: JSON.stringify({ remove: true }) });
    expect([202, 204]).toContain(d2.status);
    // 4. While a stop is pending it polls the user until the server is gone.
    await waitFor(async () => {
      const u = (await (await fetch(`${base}/users/carol`, { headers: h })).json()) as { servers: Record<string, unknown> };
      return u.servers[''] === undefined;
    }, 20_000, 200);
    const dan = (await (await fetch(`${base}/users/dan?include_stopped_servers=1`, { headers: h })).json()) as { servers: Record<string, unknown> };
    expect(dan.servers.lab).toBeUndefined();
    // 5. --cull-users: delete the user once nothing runs.
    expect((await fetch(`${base}/users/carol`, { method: 'DELETE', headers: h })).status).toBe(204);
    expect((await fetch(`${base}/users/carol`, { headers: h })).status).toBe(404);
  }, 60_000);
});

describe('POST /shutdown {"proxy": true}', () => {
  it('stops the proxy the hub started (the default leaves it running)', async () => {
    const th = await startTestHub();
    try {
      const admin = th.token('admin');
      const proc = th.running.proxyProcess!;
      expect(proc.isRunning()).toBe(true);
      expect((await th.api('POST', '/shutdown', { token: admin, body: { proxy: 'yes' } })).status).toBe(400);
      const r = await fetch(`${th.running.hubUrl}/hub/api/shutdown`, {
        method: 'POST',
        headers: { Authorization: `token ${admin}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ proxy: true }),
      });
      expect(r.status).toBe(202);
      expect(await r.json()).toEqual({ message: 'Shutting down Hub' });
      await waitFor(() => !proc.isRunning(), 15_000, 100);
      expect(await fetch(th.url).then(() => 'answers', () => 'closed')).toBe('closed');
    } finally {
      await th.teardown().catch(() => undefined);
    }
  }, 30_000);
});
