/**
 * Test harness for the hub: a real hub (in this process), a real atrium-proxy child process (or
 * an external proxy), temp state, free loopback ports, and a small browser-like HTTP client with
 * a cookie jar. teardown() stops every server the hub started, the hub, and the proxy by PID.
 */
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { pino } from 'pino';
import { parseConfig } from '../../src/hub/config/loader.js';
import type { AtriumConfig } from '../../src/hub/config/schema.js';
import { startHub, type RunningHub } from '../../src/hub/start.js';
import { hashToken, newToken, tokenPrefix } from '../../src/hub/auth/crypto.js';
import { freePort } from '../services/util.js';
import { expect } from 'vitest';

const ROOT = new URL('../../', import.meta.url).pathname;

/** The proxy child runs from dist/: build once per test process if needed. */
export function ensureBuilt(): void {
  if (existsSync(join(ROOT, 'dist/proxy/main.js')) && existsSync(join(ROOT, 'dist/cli.js'))) return;
  try {
    execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: ROOT, stdio: 'ignore' });
  } catch {
    // tsc exits non-zero on type errors but still emits; the check below is what matters.
  }
  if (!existsSync(join(ROOT, 'dist/proxy/main.js'))) throw new Error('build failed: dist/proxy/main.js missing');
}

export const STUB_NODE = join(ROOT, 'test/fixtures/stub-singleuser.mjs');

type Json = Record<string, unknown>;
/** Deep merge of config overrides (objects merged, arrays and scalars replaced). */
export function mergeConfig(a: Json, b: Json): Json {
  const out: Json = { ...a };
  for (const [k, v] of Object.entries(b)) {
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && a[k] && typeof a[k] === 'object' ? mergeConfig(a[k] as Json, v as Json) : v;
  }
  return out;
}

export interface TestHub {
  running: RunningHub;
  config: AtriumConfig;
  /** Public proxy URL, e.g. http://127.0.0.1:PORT */
  url: string;
  stateDir: string;
  token(user: string, scopes?: string[]): string;
  api(method: string, path: string, opts?: { token?: string; body?: unknown; headers?: Record<string, string> }): Promise<Response>;
  /** Close the hub (servers and proxy keep running), run `between`, start it again. */
  restart(between?: () => Promise<void>): Promise<void>;
  teardown(opts?: { keepProxy?: boolean }): Promise<void>;
}

/**
 * Start a hub on free ports. `overrides` is merged into a config with the dummy authenticator
 * (any password), the local spawner running the node stub, and a child atrium-proxy.
 */
export async function startTestHub(overrides: Json = {}, opts: { rawYaml?: string } = {}): Promise<TestHub> {
  ensureBuilt();
  const stateDir = mkdtempSync(join(tmpdir(), 'atrium-hub-'));
  const [hubPort, proxyPort, apiPort] = [await freePort(), await freePort(), await freePort()];
  const baseConfig: Json = {
    hub: { ip: '127.0.0.1', port: hubPort, stateDir },
    proxy: { ip: '127.0.0.1', port: proxyPort, apiUrl: `http://127.0.0.1:${apiPort}`, checkRunningIntervalSeconds: 1 },
    authenticator: { kind: 'dummy', adminUsers: ['admin'] },
    spawner: { kind: 'local', local: { cmd: ['node', STUB_NODE] }, pollIntervalSeconds: 2, slowSpawnTimeoutSeconds: 5 },
    logLevel: 'warn',
  };
  const doc = mergeConfig(baseConfig, overrides);
  const config = parseConfig(opts.rawYaml ?? JSON.stringify(doc), 'test-hub.yaml', {}) as AtriumConfig;
  const log = pino({ level: process.env.ATRIUM_TEST_LOG ?? 'silent' });
  let running = await startHub(config, { log, env: {} });
  const url = `http://127.0.0.1:${config.proxy.port}`;

  const th: TestHub = {
    get running() {
      return running;
    },
    config,
    url,
    stateDir,
    token(user: string, scopes: string[] = ['inherit']) {
      const stores = running.hub.stores;
      const { user: row } = stores.users.ensure(user);
      const t = newToken();
      stores.tokens.insert({ userId: row.id, prefix: tokenPrefix(t), hashed: hashToken(t), scopes, note: 'test' });
      return t;
    },
    async api(method, path, o = {}) {
      const headers: Record<string, string> = { ...(o.headers ?? {}) };
      if (o.token) headers.Authorization = `token ${o.token}`;
      let body: string | undefined;
      if (o.body !== undefined) {
        body = typeof o.body === 'string' ? o.body : JSON.stringify(o.body);
        headers['Content-Type'] ??= 'application/json';
      }
      return fetch(`${url}/hub/api${path}`, { method, headers, body, redirect: 'manual' });
    },
    async restart(between?: () => Promise<void>) {
      await running.close();
      if (between) await between();
      running = await startHub(config, { log, env: {} });
    },
    async teardown(o = {}) {
      const hub = running.hub;
      await Promise.allSettled(
        [...hub.spawns.active.values()].map(async (a) => {
          await a.done;
          const u = hub.stores.users.getById(a.userId);
          if (u && hub.spawns.get(u.name, a.serverName)?.phase === 'running') await hub.spawns.stop(u, a.serverName);
          await hub.spawns.get(u?.name ?? '', a.serverName)?.done;
        }),
      );
      await running.close().catch(() => undefined);
      if (!o.keepProxy) await running.proxyProcess?.stop().catch(() => undefined);
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
  return th;
}

/** A minimal browser: follows redirects by hand, keeps cookies per path, exposes the last page. */
export class Browser {
  private cookies = new Map<string, { value: string; path: string }>();
  constructor(readonly base: string) {}

  cookieHeader(path: string): string {
    return [...this.cookies.entries()]
      .filter(([, c]) => path.startsWith(c.path))
      .map(([k, c]) => `${k}=${c.value}`)
      .join('; ');
  }

  cookie(name: string): string | undefined {
    return this.cookies.get(name)?.value;
  }

  private store(res: Response): void {
    for (const sc of res.headers.getSetCookie()) {
      const [pair, ...attrs] = sc.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      const path = attrs.map((a) => a.trim()).find((a) => a.toLowerCase().startsWith('path='))?.slice(5) ?? '/';
      const expired = attrs.some((a) => /max-age=0\b/i.test(a.trim()) || /expires=thu, 01 jan 1970/i.test(a.trim()));
      if (expired || value === '' || value === '""') this.cookies.delete(name);
      else this.cookies.set(name, { value, path });
    }
  }

  /** One request, no redirect following. */
  async request(method: string, pathOrUrl: string, init: { body?: string; headers?: Record<string, string> } = {}): Promise<Response> {
    const u = new URL(pathOrUrl, this.base);
    const headers: Record<string, string> = { ...(init.headers ?? {}) };
    const c = this.cookieHeader(u.pathname);
    if (c) headers.Cookie = c;
    const res = await fetch(u, { method, headers, body: init.body, redirect: 'manual' });
    this.store(res);
    return res;
  }

  /** GET following redirects (up to 15); returns the final response and the URLs visited. */
  async follow(path: string, init: { method?: string; body?: string; headers?: Record<string, string> } = {}): Promise<{ res: Response; chain: string[] }> {
    const chain: string[] = [];
    let res = await this.request(init.method ?? 'GET', path, init);
    let current = new URL(path, this.base).toString();
    chain.push(current);
    for (let i = 0; i < 15 && res.status >= 300 && res.status < 400; i++) {
      await res.arrayBuffer();
      current = new URL(res.headers.get('location')!, current).toString();
      chain.push(current);
      res = await this.request('GET', current);
    }
    return { res, chain };
  }

  /** Log in through the login form (dummy or LDAP authenticator). */
  async login(user: string, password = 'pw', next?: string): Promise<{ res: Response; chain: string[] }> {
    const page = await this.request('GET', `/hub/login${next ? `?next=${encodeURIComponent(next)}` : ''}`);
    const html = await page.text();
    const xsrf = /name="_xsrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
    const body = new URLSearchParams({ _xsrf: xsrf, username: user, password }).toString();
    return this.follow(`/hub/login${next ? `?next=${encodeURIComponent(next)}` : ''}`, {
      method: 'POST',
      body,
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    });
  }
}

export async function waitFor<T>(fn: () => Promise<T | null | undefined | false> | T | null | undefined | false, timeoutMs = 30_000, stepMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v as T;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, stepMs));
  }
  throw new Error(`condition not met within ${timeoutMs} ms${last ? `: ${String(last)}` : ''}`);
}

/**
 * Wait (admin token) until `user`'s default server is ready, then open /user/USER/tree as the
 * browser through the proxy: the chain must pass the hub's authorize and the server's OAuth
 * callback, and the server's /api/status must answer 200 with `started`.
 */
export async function openNotebookThroughOAuth(th: TestHub, b: Browser, user: string, readyTimeoutMs: number): Promise<void> {
  const admin = th.token('admin');
  await waitFor(async () => {
    const r = await th.api('GET', `/users/${user}`, { token: admin });
    return ((await r.json()) as { servers: Record<string, { ready: boolean }> }).servers['']?.ready;
  }, readyTimeoutMs, 250);
  const { res, chain } = await b.follow(`/user/${user}/tree`);
  expect(res.status).toBe(200);
  await res.arrayBuffer();
  expect(chain.some((u) => u.includes('/hub/api/oauth2/authorize'))).toBe(true);
  expect(chain.some((u) => u.includes(`/user/${user}/oauth_callback`))).toBe(true);
  const status = await b.request('GET', `/user/${user}/api/status`);
  expect(status.status).toBe(200);
  expect(await status.json()).toHaveProperty('started');
}
