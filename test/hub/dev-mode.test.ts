/**
 * `atrium hub --dev` (scripts/dev): Ctrl-C (SIGINT) stops the hub, its child proxy and every user
 * server — running and still pending. Without --dev the same signal leaves the servers and the
 * proxy running (production: users keep working through a hub restart). Real hub process, real
 * atrium-proxy, real local-spawner server processes.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { hubProcess, pidAlive, recordedServerPids, type HubProcess } from './hub-process.js';
import { waitFor } from './harness.js';

let hp: HubProcess | null = null;
afterEach(async () => {
  await hp?.teardown();
  hp = null;
});

function proxyPid(h: HubProcess): number {
  return Number(readFileSync(join(h.stateDir, 'proxy.pid'), 'utf8').trim());
}

function serverPids(h: HubProcess): number[] {
  const db = h.db();
  try {
    return recordedServerPids(db);
  } finally {
    db.close();
  }
}

async function startServers(h: HubProcess, users: string[]): Promise<void> {
  const admin = h.token('admin', ['admin:servers', 'admin:users']);
  for (const u of users) {
    const r = await h.api('POST', '/users', { token: admin, body: { usernames: [u] } });
    await r.arrayBuffer();
    const s = await h.api('POST', `/users/${u}/server`, { token: admin });
    await s.arrayBuffer();
    expect([201, 202]).toContain(s.status);
  }
  await waitFor(async () => {
    const r = await h.api('GET', '/users', { token: admin });
    const list = (await r.json()) as { name: string; servers?: Record<string, { ready: boolean }> }[];
    return users.every((u) => list.find((x) => x.name === u)?.servers?.['']?.ready === true);
  }, 20_000, 100);
}

describe('Ctrl-C', () => {
  it('with --dev stops every user server and the proxy, then exits 0', async () => {
    hp = await hubProcess();
    await hp.start({ args: ['--dev'] });
    expect(hp.output()).toContain('Development mode');
    await startServers(hp, ['ann', 'ben']);
    const servers = serverPids(hp);
    const proxy = proxyPid(hp);
    expect(servers).toHaveLength(2);
    expect(servers.every(pidAlive)).toBe(true);

    const t0 = Date.now();
    const exit = await hp.kill('SIGINT');
    const ms = Date.now() - t0;
    expect(exit.code, hp.output().slice(-2000)).toBe(0);
    expect(servers.filter(pidAlive)).toEqual([]);
    expect(pidAlive(proxy)).toBe(false);
    // The closing log line tells what is left: nothing, and it does not promise a running proxy.
    expect(hp.output()).toContain('hub stopped; 0 user servers left running');
    expect(hp.output()).not.toContain('keep running');
    // The database agrees: nothing is left running for the next start.
    const db = hp.db();
    try {
      const rows = db.prepare("SELECT status FROM servers WHERE status != 'stopped'").all();
      expect(rows).toEqual([]);
    } finally {
      db.close();
    }
    console.log(`dev-mode Ctrl-C with 2 servers: stopped in ${ms} ms`);
  });

  it('with --dev also cancels a spawn that is still pending and ends its process', async () => {
    hp = await hubProcess({ spawner: { local: { cmd: ['node', '-e', 'setInterval(() => {}, 1000)'] }, startTimeoutSeconds: 120 } });
    await hp.start({ args: ['--dev'] });
    const admin = hp.token('admin', ['admin:servers', 'admin:users']);
    await (await hp.api('POST', '/users', { token: admin, body: { usernames: ['dan'] } })).arrayBuffer();
    const r = await hp.api('POST', '/users/dan/server', { token: admin });
    await r.arrayBuffer();
    expect(r.status).toBe(202);
    const pids = await waitFor(() => {
      const p = serverPids(hp!);
      return p.length ? p : null;
    }, 20_000, 100);
    expect(pids.every(pidAlive)).toBe(true);
    const exit = await hp.kill('SIGINT');
    expect(exit.code, hp.output().slice(-2000)).toBe(0);
    expect(pids.filter(pidAlive)).toEqual([]);
  });

  it('without --dev leaves the servers and the proxy running', async () => {
    hp = await hubProcess();
    await hp.start();
    await startServers(hp, ['cat']);
    const servers = serverPids(hp);
    const proxy = proxyPid(hp);
    const exit = await hp.kill('SIGINT');
    expect(exit.code).toBe(0);
    expect(servers.every(pidAlive)).toBe(true);
    expect(pidAlive(proxy)).toBe(true);
    expect(hp.output()).toContain('hub stopped; 1 user server and the proxy keep running');
  });
});
