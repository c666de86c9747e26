/**
 * The restart window: the hub listens (and the proxy keeps routing users' traffic) before the
 * restore has re-attached every server. Until it has, the hub does not know whether a server
 * runs, so a request that reads or changes server state would see `servers: {}` or start a
 * second server that the restore then mistakes for an interrupted one. Such requests wait for
 * the restore (it runs in parallel and takes well under a second for a thousand servers) and,
 * past a few seconds, get 503 with Retry-After instead of a wrong answer.
 *
 * Held rather than matched route by route: almost every hub page and API call shows or changes
 * some server (home, admin, user models, spawn, OAuth for singleuser), and an allow-list of the
 * few that never do cannot forget a new route that does.
 */
import type { FastifyRequest } from 'fastify';
import type { HubUrls } from '../urls.js';
import { atriumError } from '../errors.js';

/** How long a request waits for the restore before it gets 503. */
export const RESTORE_HOLD_MS = 10_000;

export class RestoreGate {
  constructor(private readonly holdMs = RESTORE_HOLD_MS) {}

  private opened = false;
  private release!: () => void;
  private readonly done = new Promise<void>((resolve) => (this.release = resolve));

  get isOpen(): boolean {
    return this.opened;
  }

  open(): void {
    this.opened = true;
    this.release();
  }

  /** Resolves true once open, false if `ms` passed first. */
  async wait(ms: number): Promise<boolean> {
    if (this.opened) return true;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
    try {
      return await Promise.race([this.done.then(() => true as const), timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Wait, or throw the catalogued 503 with Retry-After. */
  async enter(ms = this.holdMs): Promise<void> {
    if (!(await this.wait(ms))) throw atriumError('ATRIUM_ERR_HUB_RESTORING', undefined, { headers: { 'Retry-After': '2' } });
  }
}

/**
 * For the hub's onRequest hook: a promise to wait on while the restore runs, for every request
 * except those that never touch server state; undefined (nothing to wait for, no promise made)
 * once the gate is open, which is every request after the first second of a hub's life.
 */
export function restoreGateWait(urls: Pick<HubUrls, 'hub'>, gateOf: () => RestoreGate) {
  const free = [`${urls.hub}api/health`, `${urls.hub}health`, `${urls.hub}api/info`, `${urls.hub}api/metrics`, `${urls.hub}metrics`, `${urls.hub}static/`];
  const root = `${urls.hub}api`;
  return (req: FastifyRequest): Promise<void> | undefined => {
    const gate = gateOf();
    if (gate.isOpen || req.method === 'OPTIONS') return undefined;
    const path = req.url.split('?')[0]!;
    if (path === root || path === `${root}/` || free.some((p) => path === p || (p.endsWith('/') && path.startsWith(p)))) return undefined;
    return gate.enter();
  };
}
