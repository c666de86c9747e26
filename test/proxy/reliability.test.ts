/**
 * atrium-proxy beyond CHP parity: failures stay with the one client that hit them (502/503/504),
 * hostile input gets a 4xx and the process keeps serving, hub cookies never reach user servers,
 * and /metrics reports what happened.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../services/util.js';
import { ensureBuilt, getJson, startBackend, startProxy, wsEcho, wsOpen, type Backend, type ProxyHandle } from './helpers.js';

beforeAll(ensureBuilt);

/** Send raw bytes, return the first response line (or '' if the proxy just closed). */
function raw(port: number, bytes: string | Buffer): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let got = '';
    s.on('data', (d) => { got += d.toString('latin1'); });
    s.on('error', () => resolve(got.split('\r\n')[0] ?? ''));
    s.on('close', () => resolve(got.split('\r\n')[0] ?? ''));
    s.write(bytes);
    setTimeout(() => s.end(), 300);
  });
}

describe('atrium-proxy reliability', () => {
  let backend: Backend;
  let hub: Backend;
  let proxy: ProxyHandle;
  let metricsPort: number;

  beforeAll(async () => {
    [backend, hub] = await Promise.all([startBackend('user'), startBackend('hub')]);
    metricsPort = await freePort();
    proxy = await startProxy('atrium', ['--proxy-timeout', '500', '--metrics-ip', '127.0.0.1', '--metrics-port', String(metricsPort)]);
    await proxy.addRoute('/user/alice', { target: backend.url, jupyterhub: true });
    await proxy.addRoute('/', { target: hub.url, hub: true, jupyterhub: true });
  });
  afterAll(async () => {
    await proxy?.stop();
    await backend?.close();
    await hub?.close();
  });

  const alive = async () => expect((await fetch(`${proxy.url}/user/alice/ok`)).status).toBe(200);

  it('504 for a hanging target while other requests are served', async () => {
    const hanging = fetch(`${proxy.url}/user/alice/hang`);
    const others = await Promise.all(Array.from({ length: 20 }, (_, i) => fetch(`${proxy.url}/user/alice/ok${i}`)));
    expect(others.map((r) => r.status)).toEqual(Array(20).fill(200));
    expect((await hanging).status).toBe(504);
  });

  it('502 when the target closes before answering; mid-body death cuts only that response', async () => {
    expect((await fetch(`${proxy.url}/user/alice/die-before-headers`)).status).toBe(502);
    const mid = await fetch(`${proxy.url}/user/alice/die-mid-body`);
    expect(mid.status).toBe(200);
    await expect(mid.arrayBuffer()).rejects.toThrow();
    await alive();
  });

  it('503 when the target refuses connections', async () => {
    await proxy.addRoute('/user/down', { target: `http://127.0.0.1:${await freePort()}` });
    expect((await fetch(`${proxy.url}/user/down/x`)).status).toBe(503);
    await alive();
  });

  it('malformed requests and huge headers get 4xx, never a crash', async () => {
    expect(await raw(proxy.port, 'GET /user/alice/%E0%A4%A HTTP/1.1\r\nHost: x\r\n\r\n')).toMatch(/^HTTP\/1\.1 400/);
    expect(await raw(proxy.port, 'BLAH\r\n\r\n')).toMatch(/^HTTP\/1\.1 400/);
    expect(await raw(proxy.port, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(70_000)}\r\n\r\n`)).toMatch(/^HTTP\/1\.1 431/);
    expect(await raw(proxy.port, 'GET /user/alice HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n')).toMatch(/^HTTP\/1\.1 400/);
    expect(await raw(proxy.port, Buffer.from([0, 1, 2, 3, 255, 254, 13, 10, 13, 10]))).toMatch(/^HTTP\/1\.1 400/);
    const ws = await wsOpen(`ws://127.0.0.1:${proxy.port}/user/alice/ws`).catch((e) => e);
    expect(ws).not.toBeInstanceOf(Error);
    (ws as { close(): void }).close();
    expect(await raw(proxy.port, 'GET /user/alice/%zz HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n')).toMatch(/^HTTP\/1\.1 400/);
    await alive();
  });

  it('bad API bodies get 4xx, never a crash', async () => {
    for (const body of ['null', '[]', '"str"', '{"target":"not a url"}', '{"target":"ftp://x/"}', '{"target":']) {
      expect((await proxy.api('POST', '/api/routes/user/bad', body)).status).toBe(400);
    }
    expect((await proxy.api('POST', '/api/routes/user/bad', '{"target":"http://127.0.0.1:1","x":"' + 'a'.repeat(2_000_000) + '"}')).status).toBe(413);
    expect((await proxy.api('GET', '/api/routes/%E0%A4%A')).status).toBe(400);
    expect(await raw(proxy.apiPort, 'GET /api/routes HTTP/1.1\r\nAuthorization: token x\r\nContent-Length: -1\r\n\r\n')).toMatch(/^HTTP\/1\.1 400/);
    await alive();
  });

  it('strips hub cookies for non-hub routes and keeps them for the hub route', async () => {
    const cookie = 'jupyterhub-hub-login=secret; _xsrf=abc; atrium-hub-login=s2; atrium-session-id=s3; jupyterhub-user-alice=ok';
    const user = await getJson(`${proxy.url}/user/alice/c`, { headers: { cookie } });
    expect(user.body.headers.cookie).toBe('_xsrf=abc; jupyterhub-user-alice=ok');
    const onlyHub = await getJson(`${proxy.url}/user/alice/c`, { headers: { cookie: 'jupyterhub-hub-login=secret' } });
    expect(onlyHub.body.headers.cookie).toBeUndefined();
    const atHub = await getJson(`${proxy.url}/hub/home`, { headers: { cookie } });
    expect(atHub.body.headers.cookie).toBe(cookie);
    hub.wsHeaders.length = 0;
    backend.wsHeaders.length = 0;
    const ws = await wsOpen(`ws://127.0.0.1:${proxy.port}/user/alice/ws`, { cookie });
    expect(await wsEcho(ws, 'x')).toMatch(/x$/);
    ws.close();
    expect(backend.wsHeaders[0]!.cookie).toBe('_xsrf=abc; jupyterhub-user-alice=ok');
  });

  it('exposes Prometheus metrics', async () => {
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(text).toMatch(/atrium_proxy_requests_total\{kind="web"\} \d+/);
    expect(text).toMatch(/atrium_proxy_errors_total\{code="503"\} [1-9]/);
    expect(text).toMatch(/atrium_proxy_routes \d+/);
    expect(text).toMatch(/atrium_proxy_websockets_open \d+/);
    expect((await fetch(`http://127.0.0.1:${metricsPort}/other`)).status).toBe(404);
  });

  it('is still alive and its API answers', async () => {
    expect(proxy.proc.child.exitCode).toBeNull();
    expect((await proxy.api('GET', '/api/routes')).status).toBe(200);
  });
});
