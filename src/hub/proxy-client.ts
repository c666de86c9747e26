/**
 * Drives any configurable-http-proxy compatible proxy (atrium-proxy or CHP) over its REST API,
 * the way JupyterHub's ConfigurableHTTPProxy does: bounded concurrency, retries with back-off on
 * 5xx and connection errors, 404 on delete treated as "already gone".
 */
import type { Logger } from 'pino';
import { atriumError, hasCode, type AtriumError } from './errors.js';
import { httpCall, type HttpAnswer } from './http-call.js';

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

/**
 * The proxy API answered with an error status. The user-facing message is the catalogue's; what
 * the proxy said (method, URL, status, body) is the log-only detail. 4xx is final
 * (ATRIUM_ERR_PROXY_REFUSED), 5xx is retried and ends as ATRIUM_ERR_PROXY_UNAVAILABLE.
 */
function answerError(method: string, url: string, status: number, text: string): AtriumError {
  const detail = `proxy API ${method} ${url} answered ${status}${text ? `: ${text.slice(0, 200)}` : ''}`;
  return Object.assign(atriumError(status < 500 ? 'ATRIUM_ERR_PROXY_REFUSED' : 'ATRIUM_ERR_PROXY_UNAVAILABLE', undefined, { detail }), { proxyStatus: status });
}

const proxyStatus = (err: unknown): number | undefined => (err as { proxyStatus?: number } | null)?.proxyStatus;

/** '/user/alice/' → '/user/alice'; '/' stays '/'. Names are already escaped by the caller. */
export function routespecToPath(routespec: string): string {
  let p = routespec.startsWith('/') ? routespec : '/' + routespec;
  if (p.length > 1 && p.endsWith('/')) p = p.slice(0, -1);
  return p;
}

export class ProxyClient {
  private apiUrl: string;
  private authToken: string;
  private readonly timeoutMs: number;
  private readonly retryForMs: number;
  private inFlight = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly opts: ProxyClientOptions) {
    this.apiUrl = opts.apiUrl.replace(/\/+$/, '');
    this.authToken = opts.authToken;
    this.timeoutMs = opts.requestTimeoutMs ?? 10_000;
    this.retryForMs = opts.retryForMs ?? 30_000;
  }

  /** PATCH /hub/api/proxy: point the client at another proxy API URL and/or token (as JupyterHub). */
  reconfigure(o: { apiUrl?: string; authToken?: string }): void {
    if (o.apiUrl !== undefined) this.apiUrl = o.apiUrl.replace(/\/+$/, '');
    if (o.authToken !== undefined) this.authToken = o.authToken;
  }

  /** The API URL and token in use now (they change with reconfigure). */
  get current(): { apiUrl: string; authToken: string } {
    return { apiUrl: this.apiUrl, authToken: this.authToken };
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
      if (hasCode(err, 'ATRIUM_ERR_PROXY_REFUSED') && proxyStatus(err) === 404) {
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
      let retryable: string;
      try {
        return await this.once(method, url, body);
      } catch (err) {
        if (hasCode(err, 'ATRIUM_ERR_PROXY_REFUSED')) throw err;
        retryable = hasCode(err, 'ATRIUM_ERR_PROXY_UNAVAILABLE') ? (err.detail ?? err.message) : String(err);
      }
      const wait = Math.min(delay, deadline - Date.now());
      if (wait <= 0) {
        throw atriumError('ATRIUM_ERR_PROXY_UNAVAILABLE', undefined, { detail: `proxy API ${method} ${url} failed after ${attempt} attempts: ${retryable}` });
      }
      this.opts.log.warn({ method, url, attempt, err: retryable }, 'proxy API request failed, retrying');
      await new Promise((r) => setTimeout(r, wait * (0.5 + Math.random() / 2)));
      delay = Math.min(delay * 2, 5_000);
    }
  }

  private async once(method: string, url: string, body?: string): Promise<string> {
    await this.acquire();
    try {
      let res: HttpAnswer;
      try {
        res = await httpCall(url, {
          method,
          headers: {
            authorization: `token ${this.authToken}`,
            ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          },
          body,
          timeoutMs: this.timeoutMs,
        });
      } catch (err) {
        throw atriumError('ATRIUM_ERR_PROXY_UNAVAILABLE', undefined, { detail: `proxy API ${url} unreachable: ${(err as { code?: string }).code ?? (err as Error).message}` });
      }
      if (res.status < 200 || res.status > 299) {
        throw answerError(method, url, res.status, res.text);
      }
      return res.text;
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
