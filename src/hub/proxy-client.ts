/**
 * Drives any configurable-http-proxy compatible proxy (atrium-proxy or CHP) over its REST API,
 * the way JupyterHub's ConfigurableHTTPProxy does: bounded concurrency, retries with back-off on
 * 5xx and connection errors, 404 on delete treated as "already gone".
 */
import type { Logger } from 'pino';

export interface ProxyClientOptions {
  /** e.g. http://127.0.0.1:8001 */
  apiUrl: string;
  authToken: string;
  log: Logger;
  /** Per attempt, default 10 s. */
  requestTimeoutMs?: number;
  /** Total time spent retrying 5xx/connection failures, default 30 s. */
  retryForMs?: number;
}

const MAX_IN_FLIGHT = 10;

class HttpStatusError extends Error {
  constructor(message: string, readonly status: number) {
    super(message);
  }
}

/** '/user/alice/' → '/user/alice'; '/' stays '/'. Names are already escaped by the caller. */
export function routespecToPath(routespec: string): string {
  let p = routespec.startsWith('/') ? routespec : '/' + routespec;
  if (p.length > 1 && p.endsWith('/')) p = p.slice(0, -1);
  return p;
}

export class ProxyClient {
  private readonly apiUrl: string;
  private readonly timeoutMs: number;
  private readonly retryForMs: number;
  private inFlight = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly opts: ProxyClientOptions) {
    this.apiUrl = opts.apiUrl.replace(/\/+$/, '');
    this.timeoutMs = opts.requestTimeoutMs ?? 10_000;
    this.retryForMs = opts.retryForMs ?? 30_000;
  }

  /** CHP keys ('/user/alice') → data including target and last_activity. */
  async getRoutes(): Promise<Record<string, Record<string, unknown>>> {
    const body = await this.request('GET', '');
    return JSON.parse(body) as Record<string, Record<string, unknown>>;
  }

  async addRoute(routespec: string, target: string, data: Record<string, unknown>): Promise<void> {
    await this.request('POST', routespecToPath(routespec), JSON.stringify({ ...data, target }));
  }

  async deleteRoute(routespec: string): Promise<void> {
    try {
      await this.request('DELETE', routespecToPath(routespec));
    } catch (err) {
      if (err instanceof HttpStatusError && err.status === 404) {
        this.opts.log.warn({ routespec }, 'route already absent from the proxy');
        return;
      }
      throw err;
    }
  }

  private async request(method: string, path: string, body?: string): Promise<string> {
    const url = `${this.apiUrl}/api/routes${path === '/' ? '/' : path}`;
    const deadline = Date.now() + this.retryForMs;
    let delay = 100;
    for (let attempt = 1; ; attempt++) {
      let retryable: Error;
      try {
        return await this.once(method, url, body);
      } catch (err) {
        if (err instanceof HttpStatusError && err.status < 500) throw err;
        retryable = err as Error;
      }
      const wait = Math.min(delay, deadline - Date.now());
      if (wait <= 0) {
        throw new Error(`proxy API ${method} ${url} failed after ${attempt} attempts: ${retryable.message}`);
      }
      this.opts.log.warn({ method, url, attempt, err: retryable.message }, 'proxy API request failed, retrying');
      await new Promise((r) => setTimeout(r, wait * (0.5 + Math.random() / 2)));
      delay = Math.min(delay * 2, 5_000);
    }
  }

  private async once(method: string, url: string, body?: string): Promise<string> {
    await this.acquire();
    try {
      let res: Response;
      try {
        res = await fetch(url, {
          method,
          headers: {
            authorization: `token ${this.opts.authToken}`,
            ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          },
          body,
          signal: AbortSignal.timeout(this.timeoutMs),
        });
      } catch (err) {
        const cause = (err as { cause?: { code?: string; message?: string } }).cause;
        throw new Error(`proxy API ${url} unreachable: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
      }
      const text = await res.text();
      if (!res.ok) {
        throw new HttpStatusError(`proxy API ${method} ${url} answered ${res.status}${text ? `: ${text.slice(0, 200)}` : ''}`, res.status);
      }
      return text;
    } finally {
      this.release();
    }
  }

  private acquire(): Promise<void> {
    if (this.inFlight < MAX_IN_FLIGHT) {
      this.inFlight++;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(() => { this.inFlight++; resolve(); }));
  }

  private release(): void {
    this.inFlight--;
    this.waiting.shift()?.();
  }
}
