/**
 * atrium-proxy --workers 2 (src/proxy/cluster.ts), as a real process tree: routes added and
 * deleted through the one REST API reach every worker, traffic in the workers shows up in
 * last_activity and in the metrics, a killed worker is replaced by one that has the whole table,
 * and SIGTERM to the primary leaves no worker behind. (The CHP conformance suites also run
 * against --workers 2: kind 'atrium-workers' in chp-api and chp-proxying.)
 */
import { readFileSync } from 'node:fs';
import { request, type IncomingMessage } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../services/util.js';
import { ensureBuilt, startBackend, startProxy, type Backend, type ProxyHandle } from './helpers.js';

const childrenOf = (pid: number): number[] => {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
};
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** One GET on a new connection (no keep-alive), so the primary hands each one to the next worker. */
function getOnce(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, headers: { connection: 'close' } }, (res: IncomingMessage) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function statuses(port: number, path: string, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await getOnce(port, path)).status);
  return out;
}

async function waitUntil(fn: () => boolean | Promise<boolean>, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(100);
  }
}

describe('atrium-proxy --workers 2', () => {
  let proxy: ProxyHandle;
  let backend: Backend;
  let metricsPort: number;
  /** Remote ports of the connections the backend saw: each worker has its own upstream pool. */
  const upstreamConns = new Set<number>();

  beforeAll(async () => {
    await ensureBuilt();
    backend = await startBackend('w');
    backend.server.on('connection', (s) => upstreamConns.add(s.remotePort!));
    metricsPort = await freePort();
    proxy = await startProxy('atrium-workers', ['--metrics-ip', '127.0.0.1', '--metrics-port', String(metricsPort)]);
    await waitUntil(() => childrenOf(proxy.proc.pid).length === 2, 20_000);
  }, 60_000);
  afterAll(async () => {
    await proxy?.stop();
    await backend?.close();
  });

  it('a route added through the API reaches every worker, and a delete too', async () => {
    const before = Date.now();
    await proxy.addRoute('/w', { target: backend.url });
    expect(await statuses(proxy.port, '/w/x', 20)).toEqual(Array(20).fill(200));
    // Sequential requests through one process reuse one upstream connection; two means two workers served.
    expect(upstreamConns.size).toBeGreaterThanOrEqual(2);
    // The workers' traffic is in last_activity when the primary answers.
    const got = (await (await proxy.api('GET', '/api/routes/w')).json()) as { last_activity: string };
    expect(Date.parse(got.last_activity)).toBeGreaterThanOrEqual(before);
    const del = await proxy.api('DELETE', '/api/routes/w');
    expect(del.status).toBe(204);
    expect(await statuses(proxy.port, '/w/x', 20)).toEqual(Array(20).fill(404));
  }, 60_000);

  it('a killed worker is replaced by one holding the whole table; metrics are summed, the route count is not', async () => {
    await proxy.addRoute('/a', { target: backend.url });
    const [victim, survivor] = childrenOf(proxy.proc.pid);
    process.kill(victim!, 'SIGKILL');
    await waitUntil(() => {
      const now = childrenOf(proxy.proc.pid);
      return now.length === 2 && !now.includes(victim!) && now.includes(survivor!);
    }, 20_000);
    await proxy.addRoute('/b', { target: backend.url });
    // Give the new worker time to listen; until then the survivor serves everything.
    await sleep(1500);
    expect(await statuses(proxy.port, '/a/x', 10)).toEqual(Array(10).fill(200));
    expect(await statuses(proxy.port, '/b/x', 10)).toEqual(Array(10).fill(200));
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(text).toMatch(/^atrium_proxy_routes 2$/m);
    expect(Number(/^atrium_proxy_requests_total\{kind="web"\} (\d+)$/m.exec(text)?.[1])).toBeGreaterThanOrEqual(20);
    expect(Number(/^atrium_proxy_requests_total\{kind="api"\} (\d+)$/m.exec(text)?.[1])).toBeGreaterThanOrEqual(2);
  }, 60_000);

  it('SIGTERM to the primary (alone, not its group) stops every worker', async () => {
    const workers = childrenOf(proxy.proc.pid);
    expect(workers).toHaveLength(2);
    process.kill(proxy.proc.pid, 'SIGTERM');
    await waitUntil(() => !alive(proxy.proc.pid) && workers.every((w) => !alive(w)), 10_000);
  }, 30_000);

  it('workers of a primary killed with SIGKILL exit by themselves (no orphan keeps the port)', async () => {
    const p = await startProxy('atrium-workers');
    try {
      await waitUntil(() => childrenOf(p.proc.pid).length === 2, 20_000);
      const workers = childrenOf(p.proc.pid);
      process.kill(p.proc.pid, 'SIGKILL');
      await waitUntil(() => workers.every((w) => !alive(w)), 10_000);
    } finally {
      await p.stop();
    }
  }, 60_000);
});
