/**
 * Runs a managed service's command the way JupyterHub does for services with a `command`: the
 * JUPYTERHUB_* environment, output to stateDir/logs/service-NAME.log, restarted when it exits
 * (back-off 1 s doubling to 60 s, reset after a minute of running), stopped with the hub by its
 * PID (SIGTERM to its process group, SIGKILL after 5 s). Unlike user servers and the proxy, a
 * service does not outlive the hub: it holds a token the next hub start may replace.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Service } from './registry.js';
import { accessScope } from './registry.js';

/** Variables passed through from the hub's own environment (JupyterHub's env_keep). */
const ENV_KEEP = ['PATH', 'PYTHONPATH', 'LANG', 'LC_ALL', 'HOME', 'USER', 'VIRTUAL_ENV', 'CONDA_ROOT', 'CONDA_DEFAULT_ENV', 'LD_LIBRARY_PATH'];

export function serviceEnv(s: Service, ctx: { apiUrl: string; base: string; hubEnv: NodeJS.ProcessEnv }): Record<string, string> {
  const env: Record<string, string> = {};
  for (const k of ENV_KEEP) if (ctx.hubEnv[k] !== undefined) env[k] = ctx.hubEnv[k]!;
  Object.assign(env, {
    JUPYTERHUB_SERVICE_NAME: s.name,
    JUPYTERHUB_API_TOKEN: s.token ?? '',
    JUPYTERHUB_API_URL: ctx.apiUrl,
    JUPYTERHUB_BASE_URL: ctx.base,
    JUPYTERHUB_HOST: '',
    JUPYTERHUB_CLIENT_ID: s.clientId,
    JUPYTERHUB_OAUTH_CALLBACK_URL: s.redirectUri,
    JUPYTERHUB_OAUTH_SCOPES: JSON.stringify([accessScope(s.name)]),
    JUPYTERHUB_OAUTH_ACCESS_SCOPES: JSON.stringify([accessScope(s.name)]),
    JUPYTERHUB_OAUTH_CLIENT_ALLOWED_SCOPES: '[]',
  });
  if (s.config.url) {
    env.JUPYTERHUB_SERVICE_URL = s.config.url;
    env.JUPYTERHUB_SERVICE_PREFIX = s.prefix;
  }
  Object.assign(env, s.config.environment);
  return env;
}

export class ServiceProcess {
  private child: ChildProcess | null = null;
  private stopping = false;
  private backoffMs = 1000;
  private restartTimer: NodeJS.Timeout | null = null;
  /** How many times the command was (re)started; for tests and the log. */
  starts = 0;

  constructor(
    private readonly s: Service,
    private readonly opts: { env: Record<string, string>; logDir: string; log: Logger },
  ) {}

  start(): void {
    if (this.stopping) return;
    const [cmd, ...args] = this.s.config.command;
    const logFile = join(this.opts.logDir, `service-${this.s.name}.log`);
    const fd = openSync(logFile, 'a', 0o600);
    const t0 = Date.now();
    let child: ChildProcess;
    try {
      child = spawn(cmd!, args, { env: this.opts.env, cwd: this.s.config.cwd, stdio: ['ignore', fd, fd], detached: true });
    } finally {
      closeSync(fd);
    }
    this.starts++;
    this.child = child;
    // A command that cannot be run (ENOENT, EACCES) emits 'error' and no 'exit': it is retried
    // on the same back-off, since the program may be installed or fixed without a hub restart.
    child.once('error', (err) => {
      this.opts.log.error({ service: this.s.name, err: err.message, retryInMs: this.backoffMs }, 'service command could not be started');
      if (!child.pid) this.scheduleRestart();
    });
    if (child.pid) {
      this.s.pid = child.pid;
      this.opts.log.info({ service: this.s.name, pid: child.pid, logFile }, 'service started');
    }
    child.once('exit', (code, signal) => {
      this.s.pid = 0;
      this.child = null;
      if (this.stopping) return;
      if (Date.now() - t0 > 60_000) this.backoffMs = 1000;
      this.opts.log.warn({ service: this.s.name, code, signal, restartInMs: this.backoffMs, logFile }, 'service exited; restarting it');
      this.scheduleRestart();
    });
  }

  private scheduleRestart(): void {
    if (this.stopping) return;
    this.restartTimer = setTimeout(() => this.start(), this.backoffMs);
    this.restartTimer.unref();
    this.backoffMs = Math.min(this.backoffMs * 2, 60_000);
  }

  /** Stop by PID: SIGTERM to the process group, SIGKILL after 5 s. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    const child = this.child;
    if (!child?.pid || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    const kill = (sig: NodeJS.Signals) => {
      try {
        process.kill(-child.pid!, sig);
      } catch {
        try { child.kill(sig); } catch { /* already gone */ }
      }
    };
    kill('SIGTERM');
    const t = setTimeout(() => kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  }

  get pid(): number {
    return this.child?.pid ?? 0;
  }
}
