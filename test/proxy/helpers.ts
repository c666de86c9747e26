/**
 * Test helpers for the proxy: build once, start CHP or atrium-proxy by PID, and a backend that
 * reports what it received (method, url, headers, body) plus a websocket echo.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmdirSync, statSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { WebSocketServer, WebSocket } from 'ws';
import { freePort, startProcess, waitForPort, type Started } from '../services/util.js';

export const repo = new URL('../../', import.meta.url).pathname;
export const ATRIUM_BIN = join(repo, 'bin/atrium-proxy.js');
export const CHP_BIN = join(repo, 'node_modules/configurable-http-proxy/bin/configurable-http-proxy');

function newestMtime(dir: string): number {
  let newest = 0;
  for (const name of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, name.name);
    newest = Math.max(newest, name.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

/**
 * Compile when dist/proxy is older than src/proxy. Others' unfinished code may not type-check;
 * tsc still emits, so only the output file matters. A lock dir keeps parallel test files from
 * compiling at the same time.
 */
export async function ensureBuilt(): Promise<void> {
  const out = join(repo, 'dist/proxy/main.js');
  const lock = join(repo, 'dist/.proxy-build-lock');
  mkdirSync(join(repo, 'dist'), { recursive: true });
  const stale = () => !existsSync(out) || statSync(out).mtimeMs < Math.max(newestMtime(join(repo, 'src/proxy')),
    statSync(join(repo, 'src/hub/proxy-process.ts')).mtimeMs);
  for (let i = 0; stale() && i < 600; i++) {
    try {
      mkdirSync(lock);
    } catch {
      await sleep(200);
      continue;
    }
    try {
      try { execFileSync(process.execPath, [join(repo, 'node_modules/typescript/bin/tsc'), '-p', join(repo, 'tsconfig.json')], { stdio: 'ignore' }); } catch { /* emits anyway */ }
    } finally {
      rmdirSync(lock);
    }
  }
  if (!existsSync(out)) throw new Error('dist/proxy/main.js missing after tsc');
}

/** 'atrium-workers': atrium-proxy with --workers 2 (one table, two serving processes). */
export type Kind = 'chp' | 'atrium' | 'atrium-workers';

export interface ProxyHandle {
  kind: Kind;
  port: number;
  apiPort: number;
  url: string;
  apiUrl: string;
  token: string;
  proc: Started;
  api(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Response>;
  addRoute(path: string, data: Record<string, unknown>): Promise<void>;
  stop(): Promise<void>;
}

export async function startProxy(kind: Kind, extra: string[] = [], token = 'test-token'): Promise<ProxyHandle> {
  const [port, apiPort] = [await freePort(), await freePort()];
  const bin = kind === 'chp' ? CHP_BIN : ATRIUM_BIN;
  const workers = kind === 'atrium-workers' ? ['--workers', '2'] : [];
  const proc = startProcess(process.execPath, [bin, '--ip', '127.0.0.1', '--port', String(port),
    '--api-ip', '127.0.0.1', '--api-port', String(apiPort), '--log-level', 'error', ...workers, ...extra],
    { env: { ...process.env, CONFIGPROXY_AUTH_TOKEN: token } });
  try {
    await waitForPort(port, '127.0.0.1', 15_000);
    await waitForPort(apiPort, '127.0.0.1', 15_000);
  } catch (err) {
    await proc.stop();
    throw new Error(`${kind} did not start: ${String(err)}\n${proc.output()}`);
  }
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const api = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    fetch(`${apiUrl}${path}`, {
      method,
      headers: { authorization: `token ${token}`, ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
  return {
    kind, port, apiPort, url: `http://127.0.0.1:${port}`, apiUrl, token, proc, api,
    async addRoute(path, data) {
      const res = await api('POST', `/api/routes${path}`, data);
      if (res.status !== 201) throw new Error(`POST ${path}: ${res.status} ${await res.text()}`);
    },
    stop: () => proc.stop(),
  };
}

export interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

export interface Backend {
  url: string;
  port: number;
  server: Server;
  wsHeaders: IncomingMessage['headers'][];
  close(): Promise<void>;
}

/**
 * Echo backend. Special paths: .../status/<code> answers that status; .../hang never answers;
 * .../die-before-headers closes the socket; .../die-mid-body sends half a body then closes.
 */
export async function startBackend(name = 'backend'): Promise<Backend> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = req.url ?? '';
      if (url.includes('/hang')) return;
      if (url.includes('/die-before-headers')) return req.socket.destroy();
      if (url.includes('/die-mid-body')) {
        res.writeHead(200, { 'content-length': '100000' });
        res.write('x'.repeat(1000));
        setTimeout(() => req.socket.destroy(), 20);
        return;
      }
      const m = /\/status\/(\d{3})/.exec(url);
      const seen: Seen & { backend: string } = {
        backend: name, method: req.method ?? '', url, headers: req.headers, body: Buffer.concat(chunks).toString(),
      };
      res.writeHead(m ? Number(m[1]) : 200, { 'content-type': 'application/json', 'set-cookie': ['a=1', 'b=2'] });
      res.end(JSON.stringify(seen));
    });
  });
  const wsHeaders: IncomingMessage['headers'][] = [];
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws, req) => {
    wsHeaders.push(req.headers);
    ws.on('message', (m, bin) => ws.send(bin ? m : `${name}:${req.url}:${m.toString()}`));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`, port, server, wsHeaders,
    async close() {
      for (const c of wss.clients) c.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

export async function getJson(url: string, init?: RequestInit): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(url, init);
  const text = await res.text();
  let body: unknown = text;
  try { body = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, body, headers: res.headers };
}

export function wsOpen(url: string, headers: Record<string, string> = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`unexpected response ${res.statusCode}`)));
  });
}

export function wsEcho(ws: WebSocket, text: string): Promise<string> {
  return new Promise((resolve) => {
    ws.once('message', (m) => resolve(m.toString()));
    ws.send(text);
  });
}

/**
 * One request with the path sent byte for byte (fetch would resolve "..", "%2e%2e" and "."
 * segments before sending). Body: JSON for objects; the answer's JSON is parsed when it is JSON.
 */
export function rawRequest(port: number, method: string, path: string, opts: { body?: unknown; headers?: Record<string, string> } = {}): Promise<{ status: number; body: any; text: string }> {
  const payload = opts.body === undefined ? undefined : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers: opts.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let body: unknown = text;
        try { body = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ status: res.statusCode ?? 0, body, text });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}
