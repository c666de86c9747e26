/**
 * Starts the proxy as its own long-lived process, or adopts one a previous hub started. The
 * proxy is detached (own process group, not waited for, output to a file) so that stopping or
 * restarting the hub drops no user traffic; only an explicit stop() ends it, by recorded PID.
 */
import { spawn } from 'node:child_process';
import { connectHost } from '../shared/address.js';
import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { httpCall } from './http-call.js';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';

export interface ProxyProcessOptions {
  /** Default: [node, <repo>/bin/atrium-proxy.js]. A CHP command line works too. */
  command?: string[];
  ip: string;
  port: number;
  apiIp: string;
  apiPort: number;
  authToken: string;
  /**
   * The proxy proof (auth/client-address.ts), passed in the environment (ATRIUM_PROXY_PROOF),
   * never in argv where ps shows it to every local user.
   */
  proxyProof?: string;
  errorTarget?: string;
  logLevel: string;
  pidFile: string;
  /** Default: the pid file's path with ".log". */
  logFile?: string;
  log: Logger;
  /** How long to wait for each port after starting, default 10 s. */
  startTimeoutMs?: number;
}

const DEFAULT_BIN = fileURLToPath(new URL('../../bin/atrium-proxy.js', import.meta.url));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function portOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, host);
    s.setTimeout(1000, () => { s.destroy(); resolve(false); });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

function readTail(file: string, bytes = 4000): string {
  try {
    return readFileSync(file, 'utf8').slice(-bytes);
  } catch {
    return '';
  }
}

export class ProxyProcess {
  private pid: number | undefined;
  private readonly logFile: string;

  constructor(private readonly opts: ProxyProcessOptions) {
    this.logFile = opts.logFile ?? `${opts.pidFile.replace(/\.pid$/, '')}.log`;
  }

  async start(): Promise<'started' | 'adopted'> {
    const recorded = this.recordedPid();
    if (recorded !== undefined && alive(recorded)) {
      if (await this.answersWithOurToken()) {
        this.pid = recorded;
        if (this.holdsOurProof()) {
          this.opts.log.info({ pid: recorded }, 'adopted running proxy');
          return 'adopted';
        }
        // Its X-Forwarded-For would no longer be believed, so every portal login would fail.
        this.opts.log.warn({ pid: recorded }, 'the running proxy was started with another proxy proof (or none); restarting it');
        await this.stop();
        await this.spawnProxy();
        return 'started';
      }
      this.opts.log.warn({ pid: recorded, pidFile: this.opts.pidFile },
        'pid file names a live process that is not our proxy; starting a new one');
    }
    await this.spawnProxy();
    return 'started';
  }

  isRunning(): boolean {
    return this.pid !== undefined && alive(this.pid);
  }

  /** Explicit teardown only (tests, `atrium` shutdown with cleanup); hub restarts never call it. */
  async stop(): Promise<void> {
    const pid = this.pid ?? this.recordedPid();
    if (pid === undefined) return;
    if (alive(pid)) {
      try { process.kill(pid, 'SIGTERM'); } catch { /* exited meanwhile */ }
      const deadline = Date.now() + 5000;
      while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      if (alive(pid)) {
        try { process.kill(pid, 'SIGKILL'); } catch { /* exited meanwhile */ }
      }
    }
    this.pid = undefined;
    try { unlinkSync(this.opts.pidFile); } catch { /* the proxy removes it itself on SIGTERM */ }
  }

  private recordedPid(): number | undefined {
    try {
      const n = Number.parseInt(readFileSync(this.opts.pidFile, 'utf8').trim(), 10);
      return Number.isInteger(n) && n > 0 ? n : undefined;
    } catch {
      return undefined;
    }
  }

  /** Where the proof's fingerprint (not the proof) is kept beside the pid file. */
  private get proofRecord(): string {
    return `${this.opts.pidFile.replace(/\.pid$/, '')}.proof-sha256`;
  }

  private proofFingerprint(): string {
    return createHash('sha256').update(this.opts.proxyProof ?? '').digest('hex');
  }

  private holdsOurProof(): boolean {
    if (this.opts.proxyProof === undefined) return true;
    try {
      return readFileSync(this.proofRecord, 'utf8').trim() === this.proofFingerprint();
    } catch {
      return false;
    }
  }

  private async answersWithOurToken(): Promise<boolean> {
    try {
      const res = await httpCall(`http://${connectHost(this.opts.apiIp)}:${this.opts.apiPort}/api/routes`, {
        headers: { authorization: `token ${this.opts.authToken}` },
        timeoutMs: 3000,
      });
      return res.status === 200;
    } catch {
      return false;
    }
  }

  private async spawnProxy(): Promise<void> {
    const o = this.opts;
    const [cmd, ...base] = o.command ?? [process.execPath, DEFAULT_BIN];
    const args = [
      ...base,
      '--ip', o.ip, '--port', String(o.port),
      '--api-ip', o.apiIp, '--api-port', String(o.apiPort),
      '--log-level', o.logLevel, '--pid-file', o.pidFile,
      ...(o.errorTarget ? ['--error-target', o.errorTarget] : []),
    ];
    const out = openSync(this.logFile, 'a');
    const env: NodeJS.ProcessEnv = { ...process.env, CONFIGPROXY_AUTH_TOKEN: o.authToken };
    delete env.ATRIUM_PROXY_PROOF;
    if (o.proxyProof !== undefined) env.ATRIUM_PROXY_PROOF = o.proxyProof;
    let exited: string | undefined;
    try {
      const child = spawn(cmd!, args, {
        detached: true,
        stdio: ['ignore', out, out],
        env,
      });
      child.once('error', (err) => { exited = err.message; });
      child.once('exit', (code, signal) => { exited = `exited with ${signal ?? `code ${code}`}`; });
      child.unref();
      if (child.pid === undefined) await new Promise((r) => setImmediate(r));
      if (child.pid === undefined) throw new Error(`could not start proxy ${cmd}: ${exited ?? 'no pid'}`);
      this.pid = child.pid;
      writeFileSync(o.pidFile, String(child.pid));
      writeFileSync(this.proofRecord, `${this.proofFingerprint()}\n`, { mode: 0o600 });
      o.log.info({ pid: child.pid, port: o.port, apiPort: o.apiPort, logFile: this.logFile }, 'started proxy');
    } finally {
      closeSync(out);
    }
    const deadline = Date.now() + (o.startTimeoutMs ?? 10_000);
    for (const [host, port] of [[connectHost(o.ip), o.port], [connectHost(o.apiIp), o.apiPort]] as const) {
      while (!(await portOpen(host, port))) {
        if (exited !== undefined) {
          throw new Error(`proxy ${exited} before listening on ${host}:${port}; its last output:\n${readTail(this.logFile)}`);
        }
        if (Date.now() > deadline) {
          throw new Error(`proxy did not listen on ${host}:${port} in time; its last output:\n${readTail(this.logFile)}`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }
}
