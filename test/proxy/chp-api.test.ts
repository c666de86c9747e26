/**
 * CHP REST API conformance, written from the contract (research/jupyterhub-contracts.md §3.2)
 * and run against both the real configurable-http-proxy and atrium-proxy.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { ensureBuilt, getJson, rawRequest, startBackend, startProxy, type Backend, type Kind, type ProxyHandle } from './helpers.js';

beforeAll(ensureBuilt);

describe.each(['chp', 'atrium', 'atrium-workers'] as Kind[])('REST API: %s', (kind) => {
  let proxy: ProxyHandle;
  let backend: Backend;
  beforeAll(async () => {
    backend = await startBackend();
    proxy = await startProxy(kind);
  });
  afterAll(async () => {
    await proxy?.stop();
    await backend?.close();
  });

  it('requires "Authorization: token X"; Bearer and wrong tokens get 403', async () => {
    expect((await fetch(`${proxy.apiUrl}/api/routes`)).status).toBe(403);
    expect((await proxy.api('GET', '/api/routes', undefined, { authorization: `Bearer ${proxy.token}` })).status).toBe(403);
    expect((await proxy.api('GET', '/api/routes', undefined, { authorization: 'token wrong' })).status).toBe(403);
    expect((await proxy.api('GET', '/api/routes', undefined, { authorization: 'token test-tokenX' })).status).toBe(403);
    const ok = await proxy.api('GET', '/api/routes');
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toMatch(/application\/json/);
  });

  it('POST stores the whole body plus last_activity, JSON whatever the Content-Type', async () => {
    const res = await proxy.api('POST', '/api/routes/user/alice',
      JSON.stringify({ user: 'alice', server_name: '', target: backend.url, jupyterhub: true, last_activity: 'x' }),
      { 'content-type': 'application/x-www-form-urlencoded' });
    expect(res.status).toBe(201);
    expect(await res.text()).toBe('');
    const { body } = await getJson(`${proxy.apiUrl}/api/routes`, { headers: { authorization: `token ${proxy.token}` } });
    expect(body['/user/alice']).toMatchObject({ user: 'alice', server_name: '', target: backend.url, jupyterhub: true });
    expect(body['/user/alice'].last_activity).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it('POST replaces the data (no merge)', async () => {
    await proxy.addRoute('/user/merge', { target: backend.url, a: 1 });
    await proxy.addRoute('/user/merge', { target: backend.url, b: 2 });
    const { body } = await getJson(`${proxy.apiUrl}/api/routes/user/merge`, { headers: { authorization: `token ${proxy.token}` } });
    expect(body.b).toBe(2);
    expect(body.a).toBeUndefined();
  });

  it('keys are URL-decoded, without a trailing slash; POST with no path is "/"', async () => {
    await proxy.addRoute('/t%C3%A9st/a%20b/', { target: backend.url, extra: { a: 1 } });
    await proxy.addRoute('', { target: backend.url, hub: true });
    const { body } = await getJson(`${proxy.apiUrl}/api/routes`, { headers: { authorization: `token ${proxy.token}` } });
    expect(body['/tést/a b']).toMatchObject({ target: backend.url, extra: { a: 1 } });
    expect(body['/']).toMatchObject({ hub: true });
  });

  it('GET /api/routes/<path> is an exact lookup, trailing slash allowed', async () => {
    await proxy.addRoute('/user/exact', { target: backend.url });
    const auth = { headers: { authorization: `token ${proxy.token}` } };
    const one = await getJson(`${proxy.apiUrl}/api/routes/user/exact`, auth);
    expect(one.status).toBe(200);
    expect(one.body.target).toBe(backend.url);
    expect((await getJson(`${proxy.apiUrl}/api/routes/user/exact/`, auth)).status).toBe(200);
    expect((await getJson(`${proxy.apiUrl}/api/routes/user/exact/deeper`, auth)).status).toBe(404);
    expect((await getJson(`${proxy.apiUrl}/api/routes/user/exa`, auth)).status).toBe(404);
  });

  it('DELETE answers 204, then 404', async () => {
    await proxy.addRoute('/user/gone', { target: backend.url });
    expect((await proxy.api('DELETE', '/api/routes/user/gone')).status).toBe(204);
    expect((await proxy.api('DELETE', '/api/routes/user/gone')).status).toBe(404);
    expect((await proxy.api('GET', '/api/routes/user/gone')).status).toBe(404);
  });

  it('rejects bad bodies with 400', async () => {
    const bad = await proxy.api('POST', '/api/routes/user/bad', '{not json');
    expect(bad.status).toBe(400);
    expect(await bad.text()).toMatch(/^Body not valid JSON/);
    expect((await proxy.api('POST', '/api/routes/user/bad', '')).status).toBe(400);
    const noTarget = await proxy.api('POST', '/api/routes/user/bad', { nottarget: 1 });
    expect(noTarget.status).toBe(400);
    expect(await noTarget.text()).toBe("Must specify 'target' as string");
    expect((await proxy.api('POST', '/api/routes/user/bad', { target: 5 })).status).toBe(400);
  });

  // Sent byte for byte (fetch would resolve the dots first). CHP 5.3 parses the API path with
  // WHATWG URL, which resolves "..", "%2e%2e" and "." segments: a server named ".." registers
  // "/user" and catches every user without a route of their own. atrium-proxy keeps the spec
  // literally (decoded once, as CHP decodes it, never resolved); docs/proxy.md lists this.
  it.each([
    ['/user/mallory/..', '/user', '/user/mallory/..'],
    ['/user/mallory/%2e%2e', '/user', '/user/mallory/..'],
    ['/user/mallory/%2E%2e/', '/user', '/user/mallory/..'],
    ['/user/mallory/.', '/user/mallory', '/user/mallory/.'],
    ['/user/mallory/%2e', '/user/mallory', '/user/mallory/.'],
    ['/user/mallory/./x', '/user/mallory/x', '/user/mallory/./x'],
    ['/user/mallory/../../x', '/x', '/user/mallory/../../x'],
    ['/user/mallory/a%2Fb', '/user/mallory/a/b', '/user/mallory/a/b'],
    ['/user/mallory/..%2F..%2Fuser%2Fbob', '/user/mallory/../../user/bob', '/user/mallory/../../user/bob'],
    ['/user/mallory//dbl', '/user/mallory//dbl', '/user/mallory//dbl'],
  ])('route spec %s: POST, GET and DELETE agree on one key (CHP %s, atrium %s)', async (spec, chpKey, atriumKey) => {
    const key = kind === 'chp' ? chpKey : atriumKey;
    const auth = { authorization: `token ${proxy.token}` };
    expect((await rawRequest(proxy.apiPort, 'POST', `/api/routes${spec}`, { body: { target: backend.url, spec }, headers: auth })).status).toBe(201);
    const all = (await rawRequest(proxy.apiPort, 'GET', '/api/routes', { headers: auth })).body;
    const keys = Object.keys(all).filter((k) => all[k].spec === spec);
    expect(keys).toEqual([key]);
    const one = await rawRequest(proxy.apiPort, 'GET', `/api/routes${spec}`, { headers: auth });
    expect(one.status).toBe(200);
    expect(one.body.spec).toBe(spec);
    expect((await rawRequest(proxy.apiPort, 'DELETE', `/api/routes${spec}`, { headers: auth })).status).toBe(204);
    expect((await rawRequest(proxy.apiPort, 'GET', `/api/routes${spec}`, { headers: auth })).status).toBe(404);
  });

  it('405 for other methods, 404 outside /api/routes', async () => {
    const put = await proxy.api('PUT', '/api/routes/user/x', { target: backend.url });
    expect(put.status).toBe(405);
    expect(await put.text()).toBe('Method not supported');
    expect((await proxy.api('GET', '/api/other')).status).toBe(404);
    expect((await proxy.api('GET', '/api/routesX')).status).toBe(404);
  });

  it('filters with inactive_since / inactiveSince and rejects bad dates', async () => {
    await proxy.addRoute('/user/fresh', { target: backend.url });
    const auth = { headers: { authorization: `token ${proxy.token}` } };
    const future = new Date(Date.now() + 60_000).toISOString();
    const past = new Date(Date.now() - 3_600_000).toISOString();
    expect(Object.keys((await getJson(`${proxy.apiUrl}/api/routes?inactive_since=${future}`, auth)).body)).toContain('/user/fresh');
    expect(Object.keys((await getJson(`${proxy.apiUrl}/api/routes?inactiveSince=${future}`, auth)).body)).toContain('/user/fresh');
    expect((await getJson(`${proxy.apiUrl}/api/routes?inactive_since=${past}`, auth)).body).toEqual({});
    const bad = await getJson(`${proxy.apiUrl}/api/routes?inactive_since=yesterday-ish`, auth);
    expect(bad.status).toBe(400);
    expect(bad.body).toBe("Invalid datestamp 'yesterday-ish' must be ISO8601.");
  });

  it('last_activity moves with successful traffic, not with error responses', async () => {
    await proxy.addRoute('/user/act', { target: backend.url });
    const auth = { headers: { authorization: `token ${proxy.token}` } };
    const la = async () => Date.parse((await getJson(`${proxy.apiUrl}/api/routes/user/act`, auth)).body.last_activity);
    const t0 = await la();
    await sleep(30);
    expect((await fetch(`${proxy.url}/user/act/status/404`)).status).toBe(404);
    expect(await la()).toBe(t0);
    expect((await fetch(`${proxy.url}/user/act/ok`)).status).toBe(200);
    expect(await la()).toBeGreaterThan(t0);
  });
});
