/**
 * A target that answers before reading the request body (413 for an oversized upload, 401 to an
 * unauthenticated one): the answer must reach the client, not a 502/503.
 *
 * atrium-only: the real CHP 5.3 answers 503 in these cases (node's http client fails the request
 * on the write error, EPIPE/ECONNRESET, before it reads the answer), measured with 5 MB bodies
 * from fetch and node:http; even with a keep-alive target it does so intermittently.
 */
import { Agent, createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { ensureBuilt, startProxy, type Kind, type ProxyHandle } from './helpers.js';

beforeAll(ensureBuilt);

const BIG = 5_000_000;
const TOO_LARGE = JSON.stringify({ status: 413, message: 'upstream says too large' });

/** Answers on the request head, never reading the body, in the way the path names. */
function earlyUpstream(): Promise<Server> {
  const server = createServer((req, res) => {
    const url = req.url ?? '';
    if (url.endsWith('/ok')) {
      let n = 0;
      req.on('data', (c: Buffer) => { n += c.length; });
      req.on('end', () => res.end(JSON.stringify({ received: n })));
      return;
    }
    if (url.endsWith('/close')) {
      res.writeHead(413, { 'content-type': 'application/json', connection: 'close', 'content-length': Buffer.byteLength(TOO_LARGE) });
      res.end(TOO_LARGE);
      return;
    }
    if (url.endsWith('/reset')) {
      res.writeHead(413, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(TOO_LARGE) });
      res.end(TOO_LARGE, () => req.socket.destroy());
      return;
    }
    if (url.endsWith('/stream-401')) {
      // a streamed answer still in progress while the upload goes on, then a close
      res.writeHead(401, { 'content-type': 'text/plain', connection: 'close' });
      res.write('login ');
      setTimeout(() => res.end('required'), 30);
      return;
    }
    // keep-alive: node's server drains the unread body itself
    res.writeHead(413, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(TOO_LARGE) });
    res.end(TOO_LARGE);
  });
  // websocket refusals: answer the upgrade with a 401, then close or reset
  server.on('upgrade', (req, socket) => {
    socket.write('HTTP/1.1 401 Unauthorized\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: close\r\n\r\nnope!');
    if ((req.url ?? '').endsWith('/reset')) (socket as import('node:net').Socket).resetAndDestroy();
    else socket.end();
  });
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r(server)));
}

function nodePost(url: string, body: Buffer, agent: Agent | false = false): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent, headers: { 'content-length': String(body.length) } }, (res) => {
      let text = '';
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function fetchPost(url: string, body: Buffer): Promise<{ status: number; text: string }> {
  const res = await fetch(url, { method: 'POST', body: new Uint8Array(body) });
  return { status: res.status, text: await res.text() };
}

function setup(kind: Kind): { proxy: () => ProxyHandle } {
  let proxy: ProxyHandle;
  let upstream: Server;
  beforeAll(async () => {
    upstream = await earlyUpstream();
    proxy = await startProxy(kind);
    await proxy.addRoute('/user/up', { target: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}` });
  });
  afterAll(async () => {
    await proxy?.stop();
    upstream?.closeAllConnections();
    await new Promise<void>((r) => (upstream ? upstream.close(() => r()) : r()));
  });
  return { proxy: () => proxy };
}

describe('early answer from a keep-alive target: atrium', () => {
  const { proxy } = setup('atrium');

  it('a 413 sent before the body was read reaches fetch and node:http clients', async () => {
    const body = Buffer.alloc(BIG, 0x61);
    for (const send of [fetchPost, nodePost]) {
      const r = await send(`${proxy().url}/user/up/keepalive`, body);
      expect(r.status).toBe(413);
      expect(JSON.parse(r.text)).toEqual(JSON.parse(TOO_LARGE));
    }
  });
});

describe('early answer from a target that closes or resets: atrium', () => {
  const { proxy } = setup('atrium');
  const body = Buffer.alloc(BIG, 0x61);

  it.each(['close', 'reset'])('%s: the 413 reaches fetch and node:http clients, three times over', async (how) => {
    for (let round = 0; round < 3; round++) {
      for (const send of [fetchPost, nodePost]) {
        const r = await send(`${proxy().url}/user/up/${how}`, body);
        expect(r.status, `${how} round ${round} ${send.name}`).toBe(413);
        expect(JSON.parse(r.text)).toEqual(JSON.parse(TOO_LARGE));
      }
    }
  });

  it('a streamed 401 answered during an upload reaches the client whole', async () => {
    for (const send of [fetchPost, nodePost]) {
      const r = await send(`${proxy().url}/user/up/stream-401`, body);
      expect(r.status).toBe(401);
      expect(r.text).toBe('login required');
    }
  });

  // Before, undici destroyed the client's request stream, and with it the connection: the
  // keep-alive client got ECONNRESET. Whether node's client then reuses the socket depends on
  // whether it had finished writing when the answer came, so reuse is not asserted.
  it('the client connection is drained, not reset: a keep-alive client gets every answer, ten rounds', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (let round = 0; round < 10; round++) {
        const first = await nodePost(`${proxy().url}/user/up/keepalive`, body, agent);
        expect(first.status).toBe(413);
        const second = await nodePost(`${proxy().url}/user/up/ok`, Buffer.from('hello'), agent);
        expect(second.status).toBe(200);
        expect(JSON.parse(second.text)).toEqual({ received: 5 });
      }
    } finally {
      agent.destroy();
    }
  });

  it.each(['close', 'reset'])('websocket upgrade refused with 401, then %s: the 401 reaches the client', async (how) => {
    const wsUrl = `${proxy().url.replace('http:', 'ws:')}/user/up/ws/${how}`;
    const status = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(wsUrl);
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.once('open', () => reject(new Error('opened')));
      ws.once('error', reject);
    });
    expect(status).toBe(401);
  });

  it('uploads the target reads in full still go through afterwards', async () => {
    const r = await nodePost(`${proxy().url}/user/up/ok`, body);
    expect(r.status).toBe(200);
    expect(JSON.parse(r.text)).toEqual({ received: BIG });
  });
});
