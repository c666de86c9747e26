// Process and measurement helpers for the proxy benchmark. Every process is stopped by its PID.
import { spawn, execFile } from 'node:child_process';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';

export const repo = new URL('../../', import.meta.url).pathname;

export async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

export async function waitPort(port, ms = 20_000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const ok = await new Promise((r) => { const s = net.connect(port, '127.0.0.1'); s.once('connect', () => { s.destroy(); r(true); }); s.once('error', () => r(false)); });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`port ${port} not listening`);
}

export function start(cmd, args, env = {}) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let out = '';
  child.stdout.on('data', (d) => { out = (out + d).slice(-20000); });
  child.stderr.on('data', (d) => { out = (out + d).slice(-20000); });
  const exited = new Promise((r) => child.once('exit', r));
  return {
    pid: child.pid,
    output: () => out,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      process.kill(child.pid, 'SIGTERM');
      if (await Promise.race([exited.then(() => 1), sleep(3000).then(() => 0)])) return;
      process.kill(child.pid, 'SIGKILL');
      await exited;
    },
  };
}

/** wrk: returns { rps, p99ms, p50ms, errors }. */
export function wrk(url, { connections = 50, seconds = 8, threads = 1, headers = [] } = {}) {
  return new Promise((resolve, reject) => {
    execFile('wrk', [`-t${threads}`, `-c${connections}`, `-d${seconds}s`, '--latency', ...headers.flatMap((h) => ['-H', h]), url], (err, stdout) => {
      if (err) return reject(err);
      const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1]);
      const unit = (v, u) => Number(v) * ({ us: 0.001, ms: 1, s: 1000 }[u] ?? 1);
      const q = (p) => { const m = new RegExp(`\\s${p}%\\s+([\\d.]+)(us|ms|s)`).exec(stdout); return m ? unit(m[1], m[2]) : NaN; };
      const errors = /Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? '0';
      const transfer = /Transfer\/sec:\s+([\d.]+\w+)/.exec(stdout)?.[1];
      resolve({ rps, p50ms: q(50), p99ms: q(99), errors: Number(errors), transfer });
    });
  });
}

/** Sequential echo round-trips on one websocket, then many sockets in a send-on-echo loop. */
export async function wsBench(url, { roundTrips = 3000, sockets = 50, seconds = 4 } = {}) {
  const open = () => new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
  const payload = Buffer.alloc(64, 'x');
  const one = await open();
  const lat = [];
  for (let i = 0; i < roundTrips; i++) {
    const t = process.hrtime.bigint();
    await new Promise((r) => { one.once('message', r); one.send(payload); });
    lat.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  one.close();
  lat.sort((a, b) => a - b);
  const conns = await Promise.all(Array.from({ length: sockets }, open));
  let count = 0;
  let running = true;
  for (const ws of conns) {
    ws.on('message', () => { count++; if (running) ws.send(payload); });
    ws.send(payload);
  }
  await sleep(seconds * 1000);
  running = false;
  const mps = count / seconds;
  for (const ws of conns) ws.terminate();
  return { rttP50ms: lat[Math.floor(lat.length * 0.5)], rttP99ms: lat[Math.floor(lat.length * 0.99)], msgsPerSec: mps };
}

export async function addRoutes(apiPort, token, routes, concurrency = 32) {
  let i = 0;
  const worker = async () => {
    while (i < routes.length) {
      const [path, target] = routes[i++];
      const res = await fetch(`http://127.0.0.1:${apiPort}/api/routes${path}`, {
        method: 'POST', headers: { authorization: `token ${token}` }, body: JSON.stringify({ target, jupyterhub: true }),
      });
      if (res.status !== 201) throw new Error(`add route ${path}: ${res.status}`);
      await res.arrayBuffer();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}
