/**
 * Small helpers for tests that start real servers. Every process a test starts is tracked by
 * PID and stopped by PID (never by name); every server listens on 127.0.0.1.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createServer } from 'node:net';
import { chmodSync, copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** A free TCP port on 127.0.0.1 (bound and released; racy but fine for tests). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Poll `url` until it answers with a status below 500 (like JupyterHub's wait_for_http_server). */
export async function waitForHttp(url: string, timeoutMs = 30_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer().catch(() => undefined);
      if (res.status < 500) return res.status;
      last = new Error(`status ${res.status}`);
    } catch (err) {
      last = err;
    }
    await sleep(100);
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms: ${String(last)}`);
}

/** Wait until a TCP port accepts connections. */
export async function waitForPort(port: number, host = '127.0.0.1', timeoutMs = 30_000): Promise<void> {
  const { connect } = await import('node:net');
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, host);
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(100);
  }
  throw new Error(`${host}:${port} did not accept connections within ${timeoutMs} ms`);
}

export interface Started {
  child: ChildProcess;
  pid: number;
  output: () => string;
  stop: (signal?: NodeJS.Signals, graceMs?: number) => Promise<void>;
}

/** Start a process, keep its output, and give back a stop() that kills exactly that PID (and its group). */
export function startProcess(cmd: string, args: string[], opts: SpawnOptions = {}): Started {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, ...opts });
  let out = '';
  child.stdout?.on('data', (d) => { out = (out + d.toString()).slice(-200_000); });
  child.stderr?.on('data', (d) => { out = (out + d.toString()).slice(-200_000); });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const pid = child.pid ?? -1;
  return {
    child,
    pid,
    output: () => out,
    async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 5000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      try { process.kill(-pid, signal); } catch { try { process.kill(pid, signal); } catch { /* gone */ } }
      const timer = sleep(graceMs).then(() => 'timeout');
      if ((await Promise.race([exited.then(() => 'exited'), timer])) === 'timeout') {
        try { process.kill(-pid, 'SIGKILL'); } catch { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
        await exited;
      }
    },
  };
}

/**
 * A copy of `file` that any Unix user can read and run. Tests that run servers as other users
 * (runAs: system-user) need this: the checkout may sit under a 0700 directory (mktemp -d).
 */
export function worldReadableCopy(file: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'atrium-public-'));
  chmodSync(dir, 0o755);
  const target = join(dir, basename(file));
  copyFileSync(file, target);
  chmodSync(target, 0o755);
  return target;
}
