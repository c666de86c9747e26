/**
 * The hub as a real separate process (`node bin/atrium.js hub --config FILE`), for fault tests
 * that a hub inside the test process cannot show: kill -9 at any moment, signals, a database
 * made unusable underneath it. The config is written as JSON (valid YAML) into a temp state dir;
 * every process started here is stopped by PID: the hub, the child atrium-proxy (its pid file),
 * and the user servers the hub recorded (their process groups), then the state dir is removed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { ensureBuilt, mergeConfig as merge, STUB_NODE } from './harness.js';
import { hashToken, newToken, tokenPrefix } from '../../src/hub/auth/crypto.js';
import { freePort } from '../services/util.js';

const ROOT = new URL('../../', import.meta.url).pathname;
type Json = Record<string, unknown>;

export interface HubProcess {
  /** Public proxy URL, e.g. http://127.0.0.1:PORT */
  url: string;
  /** The hub's own URL (direct, not through the proxy). */
  hubUrl: string;
  stateDir: string;
  configFile: string;
  config: Json;
  /** The running hub child, or null after kill()/stop(). */
  child: ChildProcess | null;
  /** Everything the hub printed (stdout + stderr), for assertions on log lines. */
  output(): string;
  /** Start (or start again) the hub process and wait until /hub/api/health answers through the proxy. */
  start(opts?: { waitReady?: boolean; args?: string[] }): Promise<void>;
  /** Send a signal to the hub process (by PID) and wait for it to exit; returns its exit code/signal. */
  kill(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Rewrite the config file (e.g. before SIGHUP). */
  writeConfig(overrides: Json | string): void;
  /** An API token for `user` with `scopes`, written straight into the database. */
  token(user: string, scopes?: string[]): string;
  /** Open the hub database read-write from the test (for inspecting rows). Close it after use. */
  db(): Database.Database;
  api(method: string, path: string, opts?: { token?: string; body?: unknown; direct?: boolean }): Promise<Response>;
  /** Stop everything this harness started, by PID, and remove the state dir. */
  teardown(): Promise<void>;
}

/** Pids of the local spawner's servers the database knows about (state.pid). */
export function recordedServerPids(db: Database.Database): number[] {
  const rows = db.prepare("SELECT state FROM servers WHERE state IS NOT NULL AND state != '{}'").all() as { state: string }[];
  const out: number[] = [];
  for (const r of rows) {
    try {
      const s = JSON.parse(r.state) as { pid?: unknown };
      if (typeof s.pid === 'number') out.push(s.pid);
    } catch {
      /* not JSON: not ours */
    }
  }
  return out;
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Prepare a hub process on free ports with the dummy authenticator, the local spawner running the
 * node stub, and a child atrium-proxy; `overrides` are merged into that config.
 */
export async function hubProcess(overrides: Json = {}, opts: { stateDir?: string } = {}): Promise<HubProcess> {
  ensureBuilt();
  // opts.stateDir: an empty directory of the test's choosing (e.g. on a loop-mounted filesystem).
  const stateDir = opts.stateDir ?? mkdtempSync(join(tmpdir(), 'atrium-hubproc-'));
  const [hubPort, proxyPort, apiPort] = [await freePort(), await freePort(), await freePort()];
  const base: Json = {
    hub: { ip: '127.0.0.1', port: hubPort, stateDir },
    proxy: { ip: '127.0.0.1', port: proxyPort, apiUrl: `http://127.0.0.1:${apiPort}`, checkRunningIntervalSeconds: 1 },
    authenticator: { kind: 'dummy', adminUsers: ['admin'] },
    spawner: { kind: 'local', local: { cmd: ['node', STUB_NODE] }, pollIntervalSeconds: 2, slowSpawnTimeoutSeconds: 5 },
    logLevel: 'info',
  };
  let config = merge(base, overrides);
  const configFile = join(stateDir, 'atrium.yaml');
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  let out = '';
  let child: ChildProcess | null = null;
  let exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | null = null;
  const url = `http://127.0.0.1:${proxyPort}`;
  const hubUrl = `http://127.0.0.1:${hubPort}`;

  const hp: HubProcess = {
    url,
    hubUrl,
    stateDir,
    configFile,
    get config() {
      return config;
    },
    get child() {
      return child;
    },
    output: () => out,
    async start(opts = {}) {
      if (child) throw new Error('hub process already running');
      const c = spawn(process.execPath, [join(ROOT, 'bin/atrium.js'), 'hub', '--config', configFile, ...(opts.args ?? [])], {
        cwd: stateDir,
        env: { ...process.env, ATRIUM_CONFIG: '' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child = c;
      c.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      c.stderr!.on('data', (d: Buffer) => (out += d.toString()));
      exited = new Promise((resolve) => c.once('exit', (code, signal) => {
        if (child === c) child = null;
        resolve({ code, signal });
      }));
      if (opts.waitReady === false) return;
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline) {
        if (!child) throw new Error(`hub process exited during start:\n${out.slice(-3000)}`);
        try {
          const res = await fetch(`${url}/hub/api/health`, { signal: AbortSignal.timeout(1000) });
          await res.arrayBuffer();
          if (res.status === 200) return;
        } catch {
          /* not up yet */
        }
        await sleep(50);
      }
      throw new Error(`hub process did not answer within 30 s:\n${out.slice(-3000)}`);
    },
    async kill(signal = 'SIGKILL') {
      const c = child;
      if (!c || !exited) return { code: null, signal: null };
      process.kill(c.pid!, signal);
      return exited;
    },
    writeConfig(o) {
      if (typeof o === 'string') {
        writeFileSync(configFile, o);
        return;
      }
      config = merge(config, o);
      writeFileSync(configFile, JSON.stringify(config, null, 2));
    },
    token(user, scopes = ['inherit']) {
      const db = hp.db();
      try {
        const now = new Date().toISOString();
        let row = db.prepare('SELECT id FROM users WHERE name = ?').get(user) as { id: number } | undefined;
        if (!row) {
          db.prepare('INSERT INTO users (name, admin, created, last_activity) VALUES (?, 0, ?, NULL)').run(user, now);
          row = db.prepare('SELECT id FROM users WHERE name = ?').get(user) as { id: number };
        }
        const t = newToken();
        db.prepare('INSERT INTO api_tokens (user_id, prefix, hashed, scopes, note, created) VALUES (?, ?, ?, ?, ?, ?)').run(
          row.id, tokenPrefix(t), hashToken(t), JSON.stringify(scopes), 'test', now,
        );
        return t;
      } finally {
        db.close();
      }
    },
    db() {
      const db = new Database(join(stateDir, 'atrium.sqlite'));
      db.pragma('busy_timeout = 5000');
      return db;
    },
    async api(method, path, o = {}) {
      const headers: Record<string, string> = {};
      if (o.token) headers.Authorization = `token ${o.token}`;
      let body: string | undefined;
      if (o.body !== undefined) {
        body = typeof o.body === 'string' ? o.body : JSON.stringify(o.body);
        headers['Content-Type'] = 'application/json';
      }
      return fetch(`${o.direct ? hubUrl : url}/hub/api${path}`, { method, headers, body, redirect: 'manual' });
    },
    async teardown() {
      if (child) await hp.kill('SIGKILL');
      if (existsSync(join(stateDir, 'atrium.sqlite'))) {
        const db = hp.db();
        try {
          for (const pid of recordedServerPids(db)) killGroup(pid);
        } finally {
          db.close();
        }
      }
      const pidFile = join(stateDir, 'proxy.pid');
      if (existsSync(pidFile)) {
        const pid = Number(readFileSync(pidFile, 'utf8').trim());
        if (pid > 0 && pidAlive(pid)) process.kill(pid, 'SIGTERM');
      }
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
  return hp;
}

/** SIGKILL a server's process group (the local spawner starts each server as a group leader). */
export function killGroup(pid: number): void {
  for (const target of [-pid, pid]) {
    try {
      process.kill(target, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
}
