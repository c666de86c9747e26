// What a hub loads (decision 0022): a hub on the local spawner and the dummy authenticator, with
// a server started, must not have loaded the packages of kinds and features it does not use
// (dockerode and what it drags in: ssh2, protobufjs), nor Node's bundled undici (the global
// fetch, whose WebAssembly parser costs ~14 MB of RSS). Real hub process, real proxy, real
// stub server; a probe loaded with NODE_OPTIONS=--import lists the loaded modules.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { hubProcess, type HubProcess } from './hub-process.js';

const PROBE = new URL('../fixtures/footprint-probe.mjs', import.meta.url).pathname;
const HEAVY = ['dockerode', 'docker-modem', 'ssh2', 'protobufjs', '@grpc', 'ldapts', 'node-pty', 'playwright-core'];
const UNDICI = 'NativeModule internal/deps/undici/undici';

const dir = mkdtempSync(join(tmpdir(), 'atrium-footprint-'));
const hubs: HubProcess[] = [];
afterAll(async () => {
  for (const h of hubs) await h.teardown();
  rmSync(dir, { recursive: true, force: true });
});

async function footprint(variant: Record<string, string>): Promise<{ cjs: string[]; builtins: string[] }> {
  const saved = { NODE_OPTIONS: process.env.NODE_OPTIONS, ATRIUM_FOOTPRINT_DIR: process.env.ATRIUM_FOOTPRINT_DIR, ATRIUM_NO_BUNDLE: process.env.ATRIUM_NO_BUNDLE };
  Object.assign(process.env, { NODE_OPTIONS: `--import ${PROBE}`, ATRIUM_FOOTPRINT_DIR: dir }, variant);
  const hub = await hubProcess();
  hubs.push(hub);
  try {
    await hub.start();
  } finally {
    for (const [k, v] of Object.entries(saved)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
  }
  hub.token('alice'); // creates the user
  const token = hub.token('admin');
  // A server start and stop: the spawn path, the proxy client adding and removing a route.
  expect((await hub.api('POST', '/users/alice/server', { token })).status).toBeLessThan(300);
  for (let i = 0; i < 100; i++) {
    const u = await (await hub.api('GET', '/users/alice', { token })).json() as { servers: Record<string, { ready: boolean }> };
    if (u.servers['']?.ready) break;
    await sleep(100);
  }
  const routes = await (await hub.api('GET', '/proxy', { token })).json() as Record<string, unknown>;
  expect(Object.keys(routes)).toContain('/user/alice/');
  expect((await hub.api('DELETE', '/users/alice/server', { token })).status).toBeLessThan(300);
  await sleep(600);
  const file = join(dir, `${hub.child!.pid}.json`);
  expect(existsSync(file)).toBe(true);
  return JSON.parse(readFileSync(file, 'utf8')) as { cjs: string[]; builtins: string[] };
}

describe('hub start-up footprint', () => {
  for (const [name, variant] of [['bundle (when current)', { ATRIUM_NO_BUNDLE: '' }], ['unbundled', { ATRIUM_NO_BUNDLE: '1' }]] as const) {
    it(`${name}: no unused kind's packages, no undici`, async () => {
      const f = await footprint(variant);
      // The probe sees CommonJS packages the hub does load (so the negative checks can fail).
      expect(f.cjs.some((p) => p.includes('/node_modules/better-sqlite3/'))).toBe(true);
      expect(f.builtins).toContain('NativeModule internal/child_process');
      for (const pkg of HEAVY) expect(f.cjs.filter((p) => p.includes(`/node_modules/${pkg}/`)), pkg).toEqual([]);
      expect(f.builtins).not.toContain(UNDICI);
      // Loaded on first use only: prom-client's Pushgateway (and with it zlib) and ws (the web
      // shell). The bundle holds the packages themselves, so their files show in the unbundled
      // run; zlib shows in both.
      expect(f.builtins).not.toContain('NativeModule zlib');
      if (name === 'unbundled') {
        expect(f.cjs.some((p) => p.includes('/node_modules/prom-client/lib/counter.js'))).toBe(true);
        for (const file of ['/node_modules/prom-client/lib/pushgateway.js', '/node_modules/ws/']) expect(f.cjs.filter((p) => p.includes(file)), file).toEqual([]);
      }
    }, 60_000);
  }
});
