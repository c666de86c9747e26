/**
 * The routing table. Keys are CHP-normalised prefixes ("/user/alice", "/"), stored decoded.
 * Lookup walks the request path's segment prefixes from longest to shortest, so its cost grows
 * with the path depth, never with the number of routes.
 */

export type RouteData = Record<string, unknown> & { target: string };

export interface Route {
  readonly prefix: string;
  readonly data: RouteData;
  /** Parsed once at insert time so the hot path never parses a URL. */
  readonly target: URL;
  /** target.origin, cached: the upstream client keys its connection pools by it. */
  readonly origin: string;
  /** Hub routes keep the hub cookies; every other route has them stripped. */
  readonly isHub: boolean;
  /**
   * The target's host (IPv6 without brackets) and port, for the lean path's raw connections;
   * port 0 when the target is not plain http:// (the lean path leaves those to node).
   */
  readonly rawHost: string;
  readonly rawPort: number;
  /** target.pathname, cached (prepended to every proxied path). */
  readonly targetPath: string;
  /** ms since epoch; a plain number so traffic can bump it without allocating. */
  lastActivity: number;
}

/** Leading "/" added, trailing "/" removed (except for "/"), like CHP's trimPrefix. */
export function normalizePrefix(prefix: string): string {
  let p = prefix.length === 0 || prefix[0] !== '/' ? '/' + prefix : prefix;
  // CHP's trie ignores repeated slashes at either end; collapse them the same way.
  while (p.length > 1 && p.endsWith('/')) p = p.slice(0, -1);
  return p;
}

export class RouteTable {
  private readonly routes = new Map<string, Route>();
  /** Told of every set() and delete() (null = deleted): the cluster primary relays them to workers. */
  onChange: ((prefix: string, route: Route | null) => void) | null = null;

  get size(): number {
    return this.routes.size;
  }

  /** Replaces any existing route data (CHP does not merge). */
  set(prefix: string, data: RouteData, now = Date.now()): Route {
    const key = normalizePrefix(prefix);
    const target = new URL(data.target);
    const route: Route = {
      prefix: key,
      data,
      target,
      origin: target.protocol === 'wss:' || target.protocol === 'https:' ? `https://${target.host}` : `http://${target.host}`,
      isHub: data.hub === true,
      rawHost: target.hostname.startsWith('[') ? target.hostname.slice(1, -1) : target.hostname,
      rawPort: target.protocol === 'http:' ? Number(target.port) || 80 : 0,
      targetPath: target.pathname,
      lastActivity: now,
    };
    this.routes.set(key, route);
    this.onChange?.(key, route);
    return route;
  }

  get(prefix: string): Route | undefined {
    return this.routes.get(normalizePrefix(prefix));
  }

  delete(prefix: string): boolean {
    const key = normalizePrefix(prefix);
    const had = this.routes.delete(key);
    if (had) this.onChange?.(key, null);
    return had;
  }

  clear(): void {
    this.routes.clear();
  }

  entries(): IterableIterator<Route> {
    return this.routes.values();
  }

  /** Longest prefix of `path` (decoded, query removed) whose segments all match a key. */
  lookup(path: string): Route | undefined {
    const routes = this.routes;
    let p = path;
    while (p.length > 1 && p.charCodeAt(p.length - 1) === 47 /* / */) p = p.slice(0, -1);
    for (;;) {
      const hit = routes.get(p);
      if (hit !== undefined) return hit;
      if (p.length <= 1) return undefined;
      let cut = p.lastIndexOf('/');
      // "/a//b" has an empty segment; CHP's trie would not match it on "/a" alone either way,
      // so we just keep cutting at the previous slash.
      while (cut > 0 && p.charCodeAt(cut - 1) === 47) cut--;
      p = cut <= 0 ? '/' : p.slice(0, cut);
    }
  }

  /** JSON view in CHP's shape: the stored data plus last_activity as an ISO string. */
  toJSON(route: Route): Record<string, unknown> {
    return { ...route.data, last_activity: new Date(route.lastActivity).toISOString() };
  }
}
