/**
 * Error responses the proxy itself produces (404 no route, 503 target down, 502 broken
 * response, 504 timeout), rendered like CHP: from --error-target, from --error-path, or as the
 * bare status text.
 */
import { readFile } from 'node:fs/promises';
import { STATUS_CODES, request as httpRequest, type Agent, type IncomingMessage, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import type { Logger } from 'pino';

export class ErrorPages {
  private readonly errorTarget?: URL;

  constructor(
    errorTarget: string | undefined,
    private readonly errorPath: string | undefined,
    private readonly agent: Agent,
    private readonly log: Logger,
  ) {
    if (errorTarget) {
      const u = new URL(errorTarget);
      if (!u.pathname.endsWith('/')) u.pathname += '/';
      this.errorTarget = u;
    }
  }

  send(code: number, req: IncomingMessage, res: ServerResponse): void {
    if (res.headersSent) {
      // too late for a status: cut the connection so the client sees a broken response
      res.destroy();
      return;
    }
    if (this.errorTarget) this.fromTarget(code, req, res);
    else if (this.errorPath) void this.fromPath(code, res);
    else this.plain(code, res);
  }

  /**
   * The same page as `send`, as one buffer, for the lean path (fast-path.ts), which writes raw
   * sockets rather than a ServerResponse. Error pages are small; a target's is cut at 1 MB.
   */
  async render(code: number, url: string): Promise<{ contentType: string; contentEncoding?: string; body: Buffer }> {
    const plain = () => ({ contentType: 'text/plain; charset=utf-8', body: Buffer.from(STATUS_CODES[code] ?? 'Error') });
    if (this.errorPath) {
      for (const name of [`${code}.html`, 'error.html']) {
        try {
          return { contentType: 'text/html', body: await readFile(join(this.errorPath, name)) };
        } catch {
          /* try the next file */
        }
      }
      return plain();
    }
    if (!this.errorTarget) return plain();
    const target = new URL(this.errorTarget.href);
    target.pathname += String(code);
    target.searchParams.set('url', url);
    return new Promise((resolve) => {
      const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
      const upstream = send(target, { method: 'GET', agent: target.protocol === 'https:' ? undefined : this.agent, timeout: 10_000 }, (er) => {
        const parts: Buffer[] = [];
        let size = 0;
        er.on('data', (c: Buffer) => {
          size += c.length;
          if (size > 1 << 20) {
            er.destroy();
            return resolve(plain());
          }
          parts.push(c);
        });
        er.on('end', () => {
          const type = er.headers['content-type'];
          const enc = er.headers['content-encoding'];
          resolve({ contentType: typeof type === 'string' ? type : 'text/html', ...(typeof enc === 'string' ? { contentEncoding: enc } : {}), body: Buffer.concat(parts) });
        });
        er.on('error', () => resolve(plain()));
      });
      upstream.on('timeout', () => upstream.destroy(new Error('error target timed out')));
      upstream.on('error', (err) => {
        this.log.warn({ err: err.message, url: target.origin + target.pathname }, 'error page request failed');
        resolve(plain());
      });
      upstream.end();
    });
  }

  private plain(code: number, res: ServerResponse): void {
    if (res.headersSent || res.destroyed) return;
    const body = STATUS_CODES[code] ?? 'Error';
    res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }

  private fromTarget(code: number, req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(this.errorTarget!.href);
    url.pathname += String(code);
    url.searchParams.set('url', req.url ?? '/');
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const upstream = send(url, { method: 'GET', agent: url.protocol === 'https:' ? undefined : this.agent, timeout: 10_000 }, (er) => {
      if (res.headersSent || res.destroyed) {
        er.resume();
        return;
      }
      const headers: Record<string, string> = {};
      for (const k of ['content-type', 'content-encoding']) {
        const v = er.headers[k];
        if (typeof v === 'string') headers[k] = v;
      }
      res.writeHead(code, headers);
      er.pipe(res);
      er.on('error', () => res.destroy());
    });
    upstream.on('timeout', () => upstream.destroy(new Error('error target timed out')));
    upstream.on('error', (err) => {
      this.log.warn({ err: err.message, url: url.origin + url.pathname }, 'error page request failed');
      this.plain(code, res);
    });
    upstream.end();
  }

  private async fromPath(code: number, res: ServerResponse): Promise<void> {
    let body: Buffer | undefined;
    for (const name of [`${code}.html`, 'error.html']) {
      try {
        body = await readFile(join(this.errorPath!, name));
        break;
      } catch {
        /* try the next file */
      }
    }
    if (!body) {
      this.plain(code, res);
      return;
    }
    if (res.headersSent || res.destroyed) return;
    res.writeHead(code, { 'content-type': 'text/html', 'content-length': body.length });
    res.end(body);
  }
}
