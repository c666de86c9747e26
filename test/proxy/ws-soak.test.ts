/**
 * Websocket soak: 1,000 concurrent websockets through atrium-proxy, held, then closed. Logs RSS
 * and open fds of the proxy process; asserts only generous bounds (no timing assertions).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import { ensureBuilt, startBackend, startProxy, wsEcho, wsOpen, type Backend, type ProxyHandle } from './helpers.js';

beforeAll(ensureBuilt);

const COUNT = 1000;

function stats(pid: number): { rssMb: number; fds: number } {
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  return { rssMb: Math.round(rssKb / 102.4) / 10, fds: readdirSync(`/proc/${pid}/fd`).length };
}

describe('atrium-proxy websocket soak', () => {
  let backend: Backend;
  let proxy: ProxyHandle;
  beforeAll(async () => {
    backend = await startBackend('soak');
    proxy = await startProxy('atrium');
    await proxy.addRoute('/user/soak', { target: backend.url });
  });
  afterAll(async () => {
    await proxy?.stop();
    await backend?.close();
  });

  it(`holds ${COUNT} websockets and returns to baseline after they close`, async () => {
    const warm = await wsOpen(`ws://127.0.0.1:${proxy.port}/user/soak/ws`);
    await wsEcho(warm, 'warm');
    warm.close();
    await sleep(300);
    const base = stats(proxy.proc.pid);

    const sockets: WebSocket[] = [];
    for (let i = 0; i < COUNT; i += 100) {
      sockets.push(...(await Promise.all(Array.from({ length: 100 }, () => wsOpen(`ws://127.0.0.1:${proxy.port}/user/soak/ws`)))));
    }
    const echoes = await Promise.all(sockets.map((ws, i) => wsEcho(ws, `m${i}`)));
    expect(echoes.every((e, i) => e.endsWith(`:m${i}`))).toBe(true);
    const peak = stats(proxy.proc.pid);
    const metrics = await (await fetch(`${proxy.url}/_chp_healthz`)).json();
    expect(metrics).toEqual({ status: 'OK' });

    for (const ws of sockets) ws.close();
    let after = stats(proxy.proc.pid);
    for (let i = 0; i < 100 && after.fds > base.fds + 10; i++) {
      await sleep(100);
      after = stats(proxy.proc.pid);
    }
    console.log(`ws soak (${COUNT} sockets): baseline ${JSON.stringify(base)}, peak ${JSON.stringify(peak)}, after close ${JSON.stringify(after)}`);
    expect(peak.fds).toBeGreaterThanOrEqual(base.fds + COUNT);
    expect(after.fds).toBeLessThanOrEqual(base.fds + 10);
    expect(after.rssMb).toBeLessThan(base.rssMb + 150);
  });
});
