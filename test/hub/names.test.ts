/**
 * Names that become URL path segments (Safety round items 1 and 6): one server-name rule at every
 * entry (API raw and percent-encoded, pages, admin page), legacy rows still stoppable and
 * deletable, user names that cannot be dot segments, and OAuth client ids that no two servers
 * share (user colla-x's default server vs user colla's server x, both running).
 */
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, startTestHub, waitFor, type TestHub } from './harness.js';
import { hashToken, newToken, tokenPrefix } from '../../src/hub/auth/crypto.js';

let th: TestHub;
let admin: string;
const FORM = { 'Content-Type': 'application/x-www-form-urlencoded' };
const RULE = /1 to 30 characters: lowercase letters, digits and single hyphens, starting with a letter/;

beforeAll(async () => {
  th = await startTestHub({ spawner: { namedServers: { enabled: true, limitPerUser: 5 } } });
  admin = th.token('admin');
});
afterAll(async () => {
  await th?.teardown();
});

const hub = () => th.running.hub;
const serverRows = (user: string) => hub().stores.servers.ofUser(hub().stores.users.get(user)!.id).map((r) => r.name);

/** A request whose path is sent byte for byte (fetch would resolve the dot segments first). */
function rawRequest(port: number, method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<{ status: number; body: string; location?: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body, location: res.headers.location }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Percent-encode a name, dots included (fetch and the URL standard resolve %2e segments too). */
const enc = (n: string) => encodeURIComponent(n).replace(/\./g, '%2E');

/** An API call sent byte for byte through the real proxy. */
async function rawApi(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const headers: Record<string, string> = { Authorization: `token ${admin}` };
  const text = body === undefined ? undefined : JSON.stringify(body);
  if (text) Object.assign(headers, { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(text)) });
  const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: th.config.proxy.port, method, path: `/hub/api${path}`, headers }, (r) => {
      let b = '';
      r.setEncoding('utf8');
      r.on('data', (c) => (b += c));
      r.on('end', () => resolve({ status: r.statusCode!, body: b }));
    });
    req.on('error', reject);
    req.end(text);
  });
  return { status: res.status, json: res.body ? JSON.parse(res.body) : null };
}

async function pageXsrf(b: Browser, path = '/hub/token'): Promise<string> {
  const html = await (await b.request('GET', path)).text();
  return /name="_xsrf" value="([^"]+)"/.exec(html)![1]!;
}

describe('server names: one rule, refused with a 400 that states it', () => {
  const BAD = ['..', '.', 'A', 'Gpu', 'a--b', '-a', 'a-', '1abc', 'a_b', 'a.b', 'a b', 'é', 'x'.repeat(31), '%2e', 'a%2fb'];

  it('API POST and DELETE, percent-encoded through the proxy: 400 with the rule, nothing stored', async () => {
    hub().stores.users.ensure('mallory');
    for (const name of BAD) {
      for (const method of ['POST', 'DELETE']) {
        const res = await rawApi(method, `/users/mallory/servers/${enc(name)}`);
        const body = res.json;
        expect(res.status, `${method} ${name}`).toBe(400);
        expect(body.message, name).toMatch(RULE);
      }
    }
    // %2e%2e exactly as an attacker would type it
    for (const path of ['/users/mallory/servers/%2e%2e', '/users/mallory/servers/%2E%2e', '/users/mallory/servers/.%2e']) {
      const res = await rawApi('POST', path);
      expect(res.status, path).toBe(400);
      expect(res.json.message).toMatch(RULE);
    }
    expect(serverRows('mallory')).toEqual([]);
  });

  it('API POST and DELETE with a raw ".." segment at the hub: 400 with the rule', async () => {
    const port = th.config.hub.port;
    for (const method of ['POST', 'DELETE']) {
      const res = await rawRequest(port, method, '/hub/api/users/mallory/servers/..', { Authorization: `token ${admin}` });
      expect(res.status, method).toBe(400);
      expect(JSON.parse(res.body).message).toMatch(RULE);
    }
    expect(serverRows('mallory')).toEqual([]);
  });

  it('a valid name starts; the rule boundary (30 characters) is accepted', async () => {
    const name = 'a' + '1-b'.repeat(9) + 'cd'; // 30 characters
    expect(name).toHaveLength(30);
    const res = await th.api('POST', `/users/mallory/servers/${name}`, { token: admin });
    expect([201, 202]).toContain(res.status);
    await waitFor(() => hub().spawns.get('mallory', name)?.phase === 'running');
    expect((await th.api('DELETE', `/users/mallory/servers/${name}`, { token: admin, body: { remove: true } })).status).toBe(204);
  });

  it('pages: named-server form, spawn, stop and spawn-pending refuse bad names with the rule', async () => {
    const b = new Browser(th.url);
    await b.login('pageuser', 'pw', '/hub/home');
    const home = await (await b.request('GET', '/hub/home')).text();
    expect(home).toContain('pattern="[a-z](-?[a-z0-9])*"');
    expect(home).toContain('maxlength="30"');
    const xsrf = await pageXsrf(b);
    const cookie = b.cookieHeader('/hub/');
    const get = (path: string) => rawRequest(th.config.proxy.port, 'GET', path, { Cookie: cookie });
    const post = (path: string) => rawRequest(th.config.proxy.port, 'POST', path, { ...FORM, Cookie: cookie }, `_xsrf=${xsrf}`);
    for (const name of ['..', '%2e%2e', 'Bad', 'a--b', 'x'.repeat(31)]) {
      let res = await get(`/hub/spawn-named?name=${encodeURIComponent(name)}`);
      expect(res.status, `spawn-named ${name}`).toBe(400);
      expect(res.body).toMatch(RULE);
      res = await get(`/hub/spawn/pageuser/${enc(name)}`);
      expect(res.status, `spawn ${name}`).toBe(400);
      expect(res.body).toMatch(RULE);
      res = await post(`/hub/spawn/pageuser/${enc(name)}`);
      expect(res.status, `spawn POST ${name}`).toBe(400);
      res = await post(`/hub/stop/pageuser/${enc(name)}`);
      expect(res.status, `stop ${name}`).toBe(400);
      res = await get(`/hub/spawn-pending/pageuser/${enc(name)}`);
      expect(res.status, `pending ${name}`).toBe(400);
    }
    expect(serverRows('pageuser')).toEqual([]);
  });

  it('user-redirect and /hub/user/NAME/ refuse dot segments and encoded slashes (never another user\'s URL)', async () => {
    const b = new Browser(th.url);
    await b.login('walker', 'pw', '/hub/home');
    const cookie = b.cookieHeader('/hub/');
    for (const tail of ['%2e%2e/%2e%2e/user/bob/', '..%2f..%2fuser%2fbob/', '%2E%2E/bob/tree', 'x/%2e%2e/%2e%2e/%2e%2e/user/bob']) {
      for (const path of [`/hub/user-redirect/${tail}`, `/hub/user/walker/${tail}`]) {
        const res = await rawRequest(th.config.proxy.port, 'GET', path, { Cookie: cookie });
        expect(res.status, path).toBe(400);
      }
    }
    // Raw dot segments straight at the hub (a browser would resolve them before sending).
    for (const path of ['/hub/user-redirect/../../user/bob/', '/hub/user-redirect/x/../../../user/bob/', '/hub/user/walker/../../user/bob/']) {
      const res = await rawRequest(th.config.hub.port, 'GET', path, { Cookie: cookie });
      expect(res.status, path).toBeLessThan(500);
      if (res.location) expect(new URL(res.location, th.url).pathname, path).not.toMatch(/^\/user\/bob/);
    }
  });
});

describe('legacy rows that break the rule', () => {
  it('stay visible, stoppable and deletable (API and pages), never startable; links are encoded', async () => {
    const { user } = hub().stores.users.ensure('legacy');
    hub().stores.servers.ensure(user.id, '..');
    hub().stores.servers.ensure(user.id, 'Old Name');
    // no new start under a bad name, even with a row
    let raw = await rawApi('POST', '/users/legacy/servers/%2E%2E');
    expect(raw.status).toBe(400);
    expect(raw.json.message).toMatch(RULE);
    // the admin page lists them with encoded links and no Start for them
    const b = new Browser(th.url);
    await b.login('admin', 'pw', '/hub/admin');
    const html = await (await b.request('GET', '/hub/admin')).text();
    expect(html).toContain('<td>..</td>');
    expect(html).not.toMatch(/(action|href)="[^"]*\/legacy\/\.\.["/]/);
    expect(html).not.toMatch(/(action|href)="[^"]*\/spawn\/legacy\/(%2E%2E|Old%20Name)"/);
    // progress for a legacy row answers (not a 400 for the name)
    raw = await rawApi('GET', '/users/legacy/servers/%2E%2E/progress');
    expect(raw.status).toBe(400);
    expect(raw.json.message).toMatch(/is not starting/);
    // page stop: 303, not a name error
    const xsrf = await pageXsrf(b, '/hub/admin');
    const stop = await rawRequest(th.config.proxy.port, 'POST', '/hub/stop/legacy/%2E%2E', { ...FORM, Cookie: b.cookieHeader('/hub/'), 'Content-Length': String(`_xsrf=${xsrf}`.length) }, `_xsrf=${xsrf}`);
    expect(stop.status).toBe(303);
    // API delete with remove: both rows go
    for (const name of ['%2E%2E', 'Old%20Name']) {
      raw = await rawApi('DELETE', `/users/legacy/servers/${name}`, { remove: true });
      expect(raw.status, `${name} ${JSON.stringify(raw.json)}`).toBe(204);
    }
    expect(serverRows('legacy')).toEqual([]);
  });
});

describe('user names cannot be dot segments or carry slashes and escapes', () => {
  const BAD = ['..', '.', '...', '%2e', '%2e%2e', 'a/b', 'a\\b', 'a%2fb', 'x?y', 'x#y'];

  it('API user creation refuses them (POST /users and POST /users/NAME)', async () => {
    for (const name of BAD) {
      const res = await th.api('POST', '/users', { token: admin, body: { usernames: [name] } });
      expect(res.status, name).toBe(400);
      expect((await res.json()).message).toMatch(/Invalid username/);
    }
    for (const name of ['%2e%2e', '%2E', '%252e%252e', 'a%5Cb']) {
      const res = await rawApi('POST', `/users/${name}`);
      expect(res.status, name).toBe(400);
    }
    for (const name of BAD) expect(hub().stores.users.get(name), name).toBeUndefined();
  });

  it('login with the dummy authenticator refuses them and creates nobody', async () => {
    for (const name of BAD) {
      const b = new Browser(th.url);
      const { res } = await b.login(name, 'pw');
      // 400 with the reason and the rule (login says why), the form kept.
      expect(res.status, name).toBe(400);
      expect(await res.text(), name).toContain('cannot be used as a user name');
      expect(b.cookie('atrium-hub-login'), name).toBeUndefined();
      expect(hub().stores.users.get(name), name).toBeUndefined();
    }
  });
});

describe('OAuth client ids are injective', () => {
  async function oauthLogin(user: string, server: string): Promise<void> {
    const prefix = `/user/${user}/${server ? server + '/' : ''}`;
    const env = await (await fetch(`${th.url}${prefix}env`)).json();
    const clientId = env.JUPYTERHUB_CLIENT_ID as string;
    const redirect = `${prefix}oauth_callback`;
    expect(env.JUPYTERHUB_OAUTH_CALLBACK_URL).toBe(redirect);
    const b = new Browser(th.url);
    await b.login(user, 'pw', '/hub/home');
    const res = await b.request('GET', `/hub/api/oauth2/authorize?client_id=${encodeURIComponent(clientId)}&redirect_uri=${encodeURIComponent(redirect)}&response_type=code&state=s1`);
    expect(res.status, `${user}/${server}: ${res.status === 400 ? await res.text() : ''}`).toBe(302);
    const loc = new URL(res.headers.get('location')!, th.url);
    expect(loc.pathname).toBe(redirect);
    const tok = await fetch(`${th.url}/hub/api/oauth2/token`, {
      method: 'POST',
      headers: FORM,
      body: new URLSearchParams({ client_id: clientId, client_secret: env.JUPYTERHUB_API_TOKEN, grant_type: 'authorization_code', code: loc.searchParams.get('code')!, redirect_uri: redirect }).toString(),
    });
    expect(tok.status, `${user}/${server} token`).toBe(200);
    const access = (await tok.json()).access_token as string;
    const who = await (await th.api('GET', '/user', { token: access })).json();
    expect(who.name).toBe(user);
    expect(who.scopes).toContain(`access:servers!server=${user}/${server}`);
  }

  it("user colla-x's default server and user colla's server x run at once, each with its own client", async () => {
    for (const path of ['/users/colla-x/server', '/users/colla/servers/x']) {
      hub().stores.users.ensure(path.split('/')[2]!);
      const res = await th.api('POST', path, { token: admin });
      expect([201, 202], path).toContain(res.status);
    }
    await waitFor(() => hub().spawns.get('colla-x', '')?.phase === 'running' && hub().spawns.get('colla', 'x')?.phase === 'running');
    const a = await (await fetch(`${th.url}/user/colla-x/env`)).json();
    const c = await (await fetch(`${th.url}/user/colla/x/env`)).json();
    // The default server keeps JupyterHub's exact id (the singleuser's cookie name).
    expect(a.JUPYTERHUB_CLIENT_ID).toBe('jupyterhub-user-colla-x');
    expect(c.JUPYTERHUB_CLIENT_ID).toBe('jupyterhub-user-colla:x');
    await oauthLogin('colla-x', '');
    await oauthLogin('colla', 'x');
    // and again in the other order: the second start broke the first before the fix
    await oauthLogin('colla-x', '');
  });

  it('old-format client rows are replaced at spawn; their tokens go with them', async () => {
    for (const path of ['/users/colla-x/server', '/users/colla/servers/x']) {
      expect((await th.api('DELETE', path, { token: admin })).status).toBe(204);
    }
    const colla = hub().stores.users.get('colla')!;
    const row = hub().stores.servers.get(colla.id, 'x')!;
    // What an older hub left behind: colla/x under JupyterHub's ambiguous id, with a token.
    const db = hub().stores.db;
    db.prepare("INSERT INTO oauth_clients (id, secret_hash, redirect_uri, description, allowed_scopes, server_id) VALUES ('jupyterhub-user-colla-x', 'sha256:0', '/user/colla/x/oauth_callback', 'old', '[]', ?)").run(row.id);
    const t = newToken();
    hub().stores.tokens.insert({ userId: colla.id, prefix: tokenPrefix(t), hashed: hashToken(t), scopes: ['read:users!user=colla'], note: 'old oauth', clientId: 'jupyterhub-user-colla-x' });
    // colla-x's default server starts: it takes its id, the old row (another server's) and its token go
    expect([201, 202]).toContain((await th.api('POST', '/users/colla-x/server', { token: admin })).status);
    await waitFor(() => hub().spawns.get('colla-x', '')?.phase === 'running');
    const client = hub().stores.oauth.client('jupyterhub-user-colla-x')!;
    expect(hub().stores.servers.getById(client.server_id!)!.user_id).toBe(hub().stores.users.get('colla-x')!.id);
    expect((await th.api('GET', '/user', { token: t })).status).toBe(403);
    // colla/x starts under the new id; both log in
    expect([201, 202]).toContain((await th.api('POST', '/users/colla/servers/x', { token: admin })).status);
    await waitFor(() => hub().spawns.get('colla', 'x')?.phase === 'running');
    const ids = (db.prepare('SELECT id FROM oauth_clients WHERE server_id = ?').all(row.id) as { id: string }[]).map((r) => r.id);
    expect(ids).toEqual(['jupyterhub-user-colla:x']);
    await oauthLogin('colla', 'x');
    await oauthLogin('colla-x', '');
  });
});
