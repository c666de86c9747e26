/**
 * Free-port selection for local servers.
 *
 * Binding port 0 and releasing it is racy on its own: two spawns that run at the same time can be
 * handed the same port by the kernel before either server has bound it. So every port handed out
 * is remembered for a while (long enough for a slow server to bind it) and never handed out again
 * in that window by this hub process.
 */
import { createServer } from 'node:net';

/** How long a port stays reserved after it was handed out (a slow singleuser binds within this). */
const RESERVE_MS = 120_000;
const reserved = new Map<number, number>(); // port -> expiry (ms epoch)

function prune(now: number): void {
  for (const [port, until] of reserved) if (until <= now) reserved.delete(port);
}

function probe(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen({ port: 0, host, exclusive: true }, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** A port that is free on `host` now and was not handed out recently by this process. */
export async function reservePort(host: string): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await probe(host);
    const now = Date.now();
    prune(now);
    if (port > 0 && !reserved.has(port)) {
      reserved.set(port, now + RESERVE_MS);
      return port;
    }
  }
  throw new Error(`no free port found on ${host}`);
}

/** Give a port back early (the spawn failed before the server could use it). */
export function releasePort(port: number): void {
  reserved.delete(port);
}
