/**
 * ProxyClient and ProxyProcess against a real atrium-proxy process: route calls shaped like
 * JupyterHub's, retries while the proxy is not up yet, adoption after a "hub restart", and
 * stop() by recorded PID.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProxyClient } from '../../src/hub/proxy-client.js';
import { ProxyProcess } from '../../src/hub/proxy-process.js';
import { ensureBuilt, startBackend, type Backend } from '../proxy/helpers.js';
import { freePort } from '../services/util.js';

const log = pino({ level: 'silent' });
const token = 'hub-test-token';

beforeAll(ensureBuilt);

describe('ProxyProcess + ProxyClient', () => {
  let dir: string;
  let backend: Backend;
  let ports: { port: number; apiPort: number };
  let proc: ProxyProcess;
  let client: ProxyClient;
  const make = () => new ProxyProcess({
    ip: '127.0.0.1', port: ports.port, apiIp: '127.0.0.1', apiPort: ports.apiPort, authToken: token,
    logLevel: 'info', pidFile: join(dir, 'proxy.pid'), log,
  });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'proxy-process-'));
    backend = await startBackend('user');
    ports = { port: await freePort(), apiPort: await freePort() };
    proc = make();
    client = new ProxyClient({ apiUrl: `http://127.0.0.1:${ports.apiPort}/`, authToken: token, log, retryForMs: 5000 });
  });
  afterAll(async () => {
    await proc?.stop();
    await backend?.close();
  });

  it('retries until the proxy answers, then starts it detached with a pid file', async () => {
    const early = client.getRoutes();
    expect(await proc.start()).toBe('started');
    expect(await early).toEqual({});
    expect(proc.isRunning()).toBe(true);
    expect(Number(readFileSync(join(dir, 'proxy.pid'), 'utf8'))).toBeGreaterThan(0);
  });

  it('adds, lists and deletes routes the way the hub does', async () => {
    await client.addRoute('/user/alice/', backend.url, { user: 'alice', server_name: '', jupyterhub: true });
    await client.addRoute('/', backend.url, { hub: true, jupyterhub: true });
    const routes = await client.getRoutes();
    expect(routes['/user/alice']).toMatchObject({ user: 'alice', target: backend.url, jupyterhub: true });
    expect(typeof routes['/user/alice']!.last_activity).toBe('string');
    expect(routes['/']).toMatchObject({ hub: true });
    const res = await fetch(`http://127.0.0.1:${ports.port}/user/alice/api/status`);
    expect((await res.json()).url).toBe('/user/alice/api/status');
    await client.deleteRoute('/user/alice/');
    await client.deleteRoute('/user/alice/'); // 404 swallowed
    expect(Object.keys(await client.getRoutes())).toEqual(['/']);
  });

  it('runs many calls with at most 10 in flight', async () => {
    await Promise.all(Array.from({ length: 50 }, (_, i) => client.addRoute(`/user/u${i}/`, backend.url, { jupyterhub: true })));
    expect(Object.keys(await client.getRoutes())).toHaveLength(51);
  });

  it('adopts the running proxy after a hub restart, keeping its routes', async () => {
    const again = make();
    expect(await again.start()).toBe('adopted');
    expect((await client.getRoutes())['/user/u1']).toBeDefined();
  });

  it('reports 4xx errors with the proxy URL and does not retry them', async () => {
    const wrong = new ProxyClient({ apiUrl: `http://127.0.0.1:${ports.apiPort}`, authToken: 'nope', log });
    await expect(wrong.getRoutes()).rejects.toMatchObject({ code: 'ATRIUM_ERR_PROXY_REFUSED', detail: expect.stringMatching(new RegExp(`127\\.0\\.0\\.1:${ports.apiPort}/api/routes answered 403`)) });
  });

  it('gives up on an unreachable proxy after retryForMs with a clear message', async () => {
    const port = await freePort();
    const gone = new ProxyClient({ apiUrl: `http://127.0.0.1:${port}`, authToken: token, log, retryForMs: 500 });
    await expect(gone.getRoutes()).rejects.toMatchObject({ code: 'ATRIUM_ERR_PROXY_UNAVAILABLE', detail: expect.stringMatching(new RegExp(`127\\.0\\.0\\.1:${port}.*ECONNREFUSED`)) });
  });

  it('fails start() with the proxy output when the proxy cannot start', async () => {
    const bad = new ProxyProcess({
      ip: '127.0.0.1', port: ports.port /* taken */, apiIp: '127.0.0.1', apiPort: await freePort(), authToken: token,
      logLevel: 'info', pidFile: join(dir, 'other.pid'), log,
    });
    await expect(bad.start()).rejects.toThrow(/exited.*EADDRINUSE/s);
  });

  it('stop() ends exactly the recorded process and removes the pid file', async () => {
    const pid = Number(readFileSync(join(dir, 'proxy.pid'), 'utf8'));
    await proc.stop();
    expect(proc.isRunning()).toBe(false);
    expect(() => process.kill(pid, 0)).toThrow();
    expect(existsSync(join(dir, 'proxy.pid'))).toBe(false);
  });
});
