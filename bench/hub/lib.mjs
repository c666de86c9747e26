// Helpers for the hub benchmark: processes started and stopped by PID, free loopback ports,
// wrk, /proc CPU time, and the stub's own start time.
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { openSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export const repo = new URL('../../', import.meta.url).pathname;
export const CLK_TCK = 100; // Linux USER_HZ; /proc/<pid>/stat counts in these ticks
const CHP = join(repo, 'node_modules/configurable-http-proxy/bin/configurable-http-proxy');

/**
 * Writes DIR/jupyterhub_config.py for JupyterHub 3.0 (Debian) with what every bench needs: its
 * ports on 127.0.0.1, state files in DIR, the dummy authenticator, SimpleLocalProcessSpawner and
 * configurable-http-proxy from node_modules; `lines` are the bench's own settings (Python lines).
 * Returns the config file's path.
 */
export function writeJupyterHubConfig(dir, { port, hubPort, apiPort, logLevel = 'WARN', lines = [] }) {
  const file = join(dir, 'jupyterhub_config.py');
  writeFileSync(file, [
    'c = get_config()  # noqa',
    "c.JupyterHub.ip = '127.0.0.1'",
    `c.JupyterHub.port = ${port}`,
    "c.JupyterHub.hub_ip = '127.0.0.1'",
    `c.JupyterHub.hub_port = ${hubPort}`,
    `c.JupyterHub.db_url = 'sqlite:///${dir}/jupyterhub.sqlite'`,
    `c.JupyterHub.cookie_secret_file = '${dir}/cookie_secret'`,
    `c.JupyterHub.pid_file = '${dir}/jupyterhub.pid'`,
    `c.JupyterHub.log_level = '${logLevel}'`,
    "c.JupyterHub.authenticator_class = 'jupyterhub.auth.DummyAuthenticator'",
    "c.JupyterHub.spawner_class = 'jupyterhub.spawner.SimpleLocalProcessSpawner'",
    `c.ConfigurableHTTPProxy.command = ['${process.execPath}', '${CHP}']`,
    `c.ConfigurableHTTPProxy.api_url = 'http://127.0.0.1:${apiPort}'`,
    `c.ConfigurableHTTPProxy.pid_file = '${dir}/proxy.pid'`,
    `c.ConfigurableHTTPProxy.auth_token = '${randomBytes(16).toString('hex')}'`,
    ...lines,
    '',
  ].join('\n'));
  return file;
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Start a process in its own process group, output to logFile; stop() kills exactly that group. */
export function start(cmd, args, { env = {}, cwd = repo, logFile } = {}) {
  const out = logFile ? openSync(logFile, 'a') : 'ignore';
  const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', out, out], detached: true });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return {
    pid: child.pid,
    child,
    exited,
    async stop(graceMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      killGroup(child.pid, 'SIGTERM');
      if ((await Promise.race([exited.then(() => 'exited'), sleep(graceMs).then(() => 'timeout')])) === 'timeout') {
        killGroup(child.pid, 'SIGKILL');
        await exited;
      }
    },
  };
}

function killGroup(pid, sig) {
  try { process.kill(-pid, sig); } catch { try { process.kill(pid, sig); } catch { /* gone */ } }
}

export function alive(pid) {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

/** Stop one PID we know we started (read from a pid file), SIGTERM then SIGKILL. */
export async function stopPid(pid, graceMs = 5000) {
  if (!pid || !alive(pid)) return;
  try { process.kill(pid, 'SIGTERM'); } catch { return; }
  const deadline = Date.now() + graceMs;
  while (alive(pid) && Date.now() < deadline) await sleep(100);
  if (alive(pid)) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
}

/** utime + stime of one process (not its children), in milliseconds. */
export function cpuMs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After "pid (comm) ", field 3 (state) is f[0]; utime is field 14 → f[11], stime field 15 → f[12].
  return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
}

export async function waitHttp(url, { timeoutMs = 120_000, ok = (s) => s === 200, headers = {} } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url, { headers, redirect: 'manual', signal: AbortSignal.timeout(3000) });
      await res.arrayBuffer();
      if (ok(res.status)) return res.status;
      last = `status ${res.status}`;
    } catch (err) {
      last = String(err?.cause?.code ?? err);
    }
    await sleep(50);
  }
  throw new Error(`${url} not ready after ${timeoutMs} ms (${last})`);
}

/** wrk with latency percentiles: { rps, p50ms, p99ms, non2xx, socketErrors }. */
export function wrk(url, { connections = 50, seconds = 10, threads = 1, headers = [] } = {}) {
  const args = [`-t${threads}`, `-c${connections}`, `-d${seconds}s`, '--latency', ...headers.flatMap((h) => ['-H', h]), url];
  return new Promise((resolve, reject) => {
    execFile('wrk', args, { maxBuffer: 1 << 20 }, (err, stdout) => {
      if (err) return reject(err);
      const unit = (v, u) => Number(v) * ({ us: 0.001, ms: 1, s: 1000 }[u] ?? 1);
      const q = (p) => { const m = new RegExp(`\\s${p}%\\s+([\\d.]+)(us|ms|s)`).exec(stdout); return m ? unit(m[1], m[2]) : NaN; };
      const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
      resolve({
        rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1]),
        p50ms: q(50),
        p99ms: q(99),
        requests: Number(/(\d+) requests in/.exec(stdout)?.[1] ?? 0),
        non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? 0),
        socketErrors: sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0,
        command: `wrk ${args.map((a) => (a.includes(' ') ? `'${a}'` : a)).join(' ')}`,
      });
    });
  });
}

/**
 * The stub's own start time, without a hub: spawn it with a service URL and time until its
 * api/status answers 200 (polled every 2 ms). Median of `runs` sequential starts.
 */
export async function stubStartMs(cmd, args, runs = 10) {
  const times = [];
  for (let i = 0; i < runs; i++) {
    const port = await freePort();
    const t0 = performance.now();
    const p = start(cmd, args, { env: { JUPYTERHUB_SERVICE_URL: `http://127.0.0.1:${port}/user/stub/`, JUPYTERHUB_SERVICE_PREFIX: '/user/stub/' } });
    for (;;) {
      const ok = await fetch(`http://127.0.0.1:${port}/user/stub/api/status`).then((r) => r.arrayBuffer().then(() => r.status === 200), () => false);
      if (ok) break;
      if (performance.now() - t0 > 30_000) throw new Error(`stub ${cmd} did not start`);
      await sleep(2);
    }
    times.push(performance.now() - t0);
    await p.stop();
  }
  return median(times);
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  if (!s.length) return NaN;
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

export function percentile(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] : NaN;
}
