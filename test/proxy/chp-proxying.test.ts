/**
 * CHP proxying conformance (contract §3.3–3.5): routing, prefixes, X-Forwarded-*, websockets,
 * error pages. Every case runs against configurable-http-proxy and atrium-proxy.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../services/util.js';
import {
  ensureBuilt, getJson, rawRequest, startBackend, startProxy, wsEcho, wsOpen, type Backend, type Kind, type ProxyHandle,
} from './helpers.js';

beforeAll(ensureBuilt);

/** fetch() cannot set Host; node:http can. */
function rawGet(url: string, headers: Record<string, string>): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      let text = '';
      res.on('data', (c) => { text += c; });
      res.on('end', () => {
        let body: unknown = text;
        try { body = JSON.parse(text); } catch { /* text */ }
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

describe.each(['chp', 'atrium', 'atrium-workers'] as Kind[])('proxying: %s', (kind) => {
  let a: Backend;
  let b: Backend;
  let hub: Backend;
  const proxies: ProxyHandle[] = [];
  let proxy: ProxyHandle;
  let dotProxy: ProxyHandle | undefined;
  const start = async (extra: string[] = []) => {
    const p = await startProxy(kind, extra);
    proxies.push(p);
    return p;
  };

  beforeAll(async () => {
    [a, b, hub] = await Promise.all([startBackend('a'), startBackend('b'), startBackend('hub')]);
    proxy = await start();
    await proxy.addRoute('/user/alice', { target: a.url });
    await proxy.addRoute('/user/alice/nb1', { target: b.url });
    await proxy.addRoute('/user/prefixed', { target: `${b.url}/prefix` });
  });
  afterAll(async () => {
    for (const p of proxies) await p.stop();
    await Promise.all([a, b, hub].map((x) => x?.close()));
  });

  it('serves /_chp_healthz', async () => {
    const r = await getJson(`${proxy.url}/_chp_healthz`);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ status: 'OK' });
  });

  it('routes by the longest whole-segment prefix and forwards the full URL with its query', async () => {
    const r1 = await getJson(`${proxy.url}/user/alice/tree/a%20b?q=1&r=2`);
    expect(r1.body).toMatchObject({ backend: 'a', url: '/user/alice/tree/a%20b?q=1&r=2' });
    const r2 = await getJson(`${proxy.url}/user/alice/nb1/api/status`);
    expect(r2.body).toMatchObject({ backend: 'b', url: '/user/alice/nb1/api/status' });
    expect((await getJson(`${proxy.url}/user/alice`)).body.backend).toBe('a');
    expect((await getJson(`${proxy.url}/user/alice/nb1x`)).body.backend).toBe('a');
  });

  // Sent byte for byte (fetch resolves dots itself). CHP resolves "..", "%2e%2e" and "." in the
  // request path before the lookup, so a request under /user/bob/ can reach mallory's server;
  // atrium-proxy routes the literal path (stricter, see docs/proxy.md). Browsers resolve dot
  // segments before sending, so only hand-made requests carry them. Encoded slashes are decoded
  // and matched segment by segment by both, never resolved.
  it.each([
    ['/user/mallory/../bob/api', 'b', 'a'],
    ['/user/mallory/%2e%2e/bob/', 'b', 'a'],
    ['/user/bob/../mallory/', 'a', 'b'],
    ['/user/bob/%2E%2E/mallory/', 'a', 'b'],
    ['/user/bob/x/../../mallory/', 'a', 'b'],
    ['/user/alice-none/../mallory/', 'a', 'hub'],
    ['/user/bob/./x', 'b', 'b'],
    ['/user/bob%2F..%2Fmallory/', 'b', 'b'],
    ['/user/bob/..%2Fmallory/', 'b', 'b'],
    ['/user/bob/..%2F..%2Fuser%2Fmallory/', 'b', 'b'],
    ['/user//mallory/x', 'hub', 'hub'],
  ])('request path %s goes to CHP: %s, atrium: %s', async (path, chpBackend, atriumBackend) => {
    if (!dotProxy) {
      dotProxy = await start();
      await dotProxy.addRoute('/', { target: hub.url });
      await dotProxy.addRoute('/user/bob', { target: b.url });
      await dotProxy.addRoute('/user/mallory', { target: a.url });
    }
    const r = await rawRequest(dotProxy.port, 'GET', path);
    expect(r.status).toBe(200);
    expect(r.body.backend).toBe(kind === 'chp' ? chpBackend : atriumBackend);
    if (kind !== 'chp') expect(r.body.url).toBe(path);
  });

  it('answers 404 when nothing matches and there is no "/" route', async () => {
    expect((await fetch(`${proxy.url}/user/alicex/tree`)).status).toBe(404);
    expect((await fetch(`${proxy.url}/nothing`)).status).toBe(404);
  });

  it('prepends the target path', async () => {
    const r = await getJson(`${proxy.url}/user/prefixed/tree/a%20b?q=1`);
    expect(r.body.url).toBe('/prefix/user/prefixed/tree/a%20b?q=1');
  });

  it('passes method, body, status and multiple Set-Cookie headers through', async () => {
    const res = await fetch(`${proxy.url}/user/alice/post`, { method: 'PUT', body: 'hello body' });
    const seen = await res.json();
    expect(seen).toMatchObject({ method: 'PUT', body: 'hello body' });
    expect(res.headers.getSetCookie()).toEqual(['a=1', 'b=2']);
    expect((await fetch(`${proxy.url}/user/alice/status/418`)).status).toBe(418);
  });

  it('keeps Host and appends X-Forwarded-*', async () => {
    const r = await rawGet(`${proxy.url}/user/alice/xf`, { host: 'public.example:8443', 'x-forwarded-proto': 'https', 'x-forwarded-for': '10.1.2.3' });
    const h = r.body.headers;
    expect(h.host).toBe('public.example:8443');
    expect(h['x-forwarded-proto']).toBe('https,http');
    expect(h['x-forwarded-for']).toMatch(/^10\.1\.2\.3,(::ffff:)?127\.0\.0\.1$/);
    expect(h['x-forwarded-port']).toBe('8443');
    expect(h['x-forwarded-host']).toBe('public.example:8443');
  });

  it('proxies websockets with ws proto in X-Forwarded-Proto and longest-prefix routing', async () => {
    const ws = await wsOpen(`ws://127.0.0.1:${proxy.port}/user/alice/nb1/api/kernels/k/channels?t=1`);
    expect(await wsEcho(ws, 'ping')).toBe('b:/user/alice/nb1/api/kernels/k/channels?t=1:ping');
    expect(await wsEcho(ws, 'again')).toMatch(/:again$/);
    ws.close();
    expect(b.wsHeaders.at(-1)!['x-forwarded-proto']).toBe('ws');
    await expect(wsOpen(`ws://127.0.0.1:${proxy.port}/nowhere`)).rejects.toThrow(/404/);
  });

  it('answers 503 when the target refuses connections', async () => {
    const dead = await freePort();
    await proxy.addRoute('/user/dead', { target: `http://127.0.0.1:${dead}` });
    expect((await fetch(`${proxy.url}/user/dead/x`)).status).toBe(503);
    // other routes are unaffected
    expect((await fetch(`${proxy.url}/user/alice/x`)).status).toBe(200);
  });

  it('fetches error pages from --error-target with the original status', async () => {
    const p = await start(['--error-target', `${hub.url}/hub/error`]);
    const r = await getJson(`${p.url}/user/missing/tree?x=1`);
    expect(r.status).toBe(404);
    expect(r.body).toMatchObject({ backend: 'hub', url: `/hub/error/404?url=${encodeURIComponent('/user/missing/tree?x=1')}` });
    expect(r.headers.get('content-type')).toMatch(/application\/json/);
  });

  it('serves {code}.html or error.html from --error-path', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'errpages-'));
    writeFileSync(join(dir, '404.html'), '<p>no such page</p>');
    writeFileSync(join(dir, 'error.html'), '<p>generic</p>');
    const p = await start(['--error-path', dir]);
    const r404 = await fetch(`${p.url}/nope`);
    expect(r404.status).toBe(404);
    expect(r404.headers.get('content-type')).toMatch(/text\/html/);
    expect(await r404.text()).toBe('<p>no such page</p>');
    await p.addRoute('/down', { target: `http://127.0.0.1:${await freePort()}` });
    const r503 = await fetch(`${p.url}/down`);
    expect(r503.status).toBe(503);
    expect(await r503.text()).toBe('<p>generic</p>');
  });

  it('--default-target is the "/" fallback; --custom-header is added', async () => {
    const p = await start(['--default-target', hub.url, '--custom-header', 'X-Atrium-Test: yes']);
    const r = await getJson(`${p.url}/anything/here`);
    expect(r.body).toMatchObject({ backend: 'hub', url: '/anything/here' });
    expect(r.body.headers['x-atrium-test']).toBe('yes');
  });

  it('--no-include-prefix strips the route prefix', async () => {
    const p = await start(['--no-include-prefix']);
    await p.addRoute('/user/alice', { target: `${a.url}/prefix` });
    expect((await getJson(`${p.url}/user/alice/tree/x?q=1`)).body.url).toBe('/prefix/tree/x?q=1');
  });

  it('--no-x-forward adds no X-Forwarded-* headers', async () => {
    const p = await start(['--no-x-forward']);
    await p.addRoute('/', { target: a.url });
    const h = (await getJson(`${p.url}/x`)).body.headers;
    expect(Object.keys(h).filter((k) => k.startsWith('x-forwarded'))).toEqual([]);
  });

  it('--host-routing uses the Host header as the first segment and falls back to "/"', async () => {
    const p = await start(['--host-routing']);
    await p.addRoute('/alice.hub.test/user/alice', { target: a.url });
    await p.addRoute('/', { target: hub.url });
    const routes = await getJson(`${p.apiUrl}/api/routes`, { headers: { authorization: `token ${p.token}` } });
    expect(routes.body['/alice.hub.test/user/alice'].host).toBe('alice.hub.test');
    expect((await rawGet(`${p.url}/user/alice/x`, { host: 'alice.hub.test:8000' })).body).toMatchObject({ backend: 'a', url: '/user/alice/x' });
    expect((await rawGet(`${p.url}/user/alice/x`, { host: 'other.example' })).body.backend).toBe('hub');
  });
});
