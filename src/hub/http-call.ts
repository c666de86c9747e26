/**
 * The hub's own small HTTP calls (the proxy API, probes of the proxy and of user servers), over
 * node:http with keep-alive. Why not the global fetch: the first fetch() loads Node's bundled
 * undici and compiles its llhttp WebAssembly parser, which measured ~14 MB of resident memory
 * kept for good (more while compiling) and tens of ms of CPU in every hub start, for calls that
 * need none of fetch's features (decision 0022). Redirects are never followed.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

export interface HttpCallOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** Whole call, connect to last byte. */
  timeoutMs: number;
  /** Answers longer than this are cut off with an error (a proxy table of 10k routes is ~2 MB). */
  maxBytes?: number;
}

export interface HttpAnswer {
  status: number;
  text: string;
}

// Keep-alive: a restart adds up to thousands of routes one POST at a time.
const agents = { http: new HttpAgent({ keepAlive: true, maxSockets: 16 }), https: new HttpsAgent({ keepAlive: true, maxSockets: 16 }) };

/**
 * One request. Rejects with an Error whose `code` is the socket's (ECONNREFUSED, ECONNRESET…)
 * or 'ETIMEDOUT' / 'ETOOBIG'; any HTTP status resolves.
 */
export function httpCall(url: string, opts: HttpCallOptions): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const tls = u.protocol === 'https:';
    const body = opts.body === undefined ? undefined : Buffer.from(opts.body);
    const headers: Record<string, string> = { ...opts.headers };
    if (body) headers['content-length'] = String(body.length);
    const fail = (err: Error, code: string) => reject(Object.assign(err, { code: (err as { code?: string }).code ?? code }));
    const req = (tls ? httpsRequest : httpRequest)(u, { method: opts.method ?? 'GET', headers, agent: tls ? agents.https : agents.http }, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > (opts.maxBytes ?? 64 * 1024 * 1024)) req.destroy(Object.assign(new Error(`answer from ${u.origin} larger than ${opts.maxBytes} bytes`), { code: 'ETOOBIG' }));
        else chunks.push(c);
      });
      res.once('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') });
      });
      res.once('error', (err) => fail(err, 'ECONNRESET'));
    });
    const timer = setTimeout(() => req.destroy(Object.assign(new Error(`no answer from ${u.origin} within ${opts.timeoutMs} ms`), { code: 'ETIMEDOUT' })), opts.timeoutMs);
    req.once('error', (err) => {
      clearTimeout(timer);
      fail(err, 'ECONNRESET');
    });
    req.end(body);
  });
}
