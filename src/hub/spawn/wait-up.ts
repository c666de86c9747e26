/**
 * Wait until a freshly started server answers HTTP. Like JupyterHub, any status below 500 counts
 * (a 302 to the login or a 403 means the server is there); redirects are not followed.
 */
import { request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';

function probe(url: string, signal: AbortSignal): Promise<number> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = (u.protocol === 'https:' ? httpsRequest : request)(
      u,
      { method: 'GET', signal, timeout: 5000, headers: { 'user-agent': 'atrium-hub' } },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.once('timeout', () => req.destroy(new Error('timeout')));
    req.once('error', reject);
    req.end();
  });
}

export async function waitUp(url: string, timeoutMs: number, signal: AbortSignal): Promise<{ ok: boolean; detail?: string }> {
  const deadline = Date.now() + timeoutMs;
  let delay = 50;
  let last = '';
  while (Date.now() < deadline && !signal.aborted) {
    try {
      const status = await probe(url, signal);
      if (status > 0 && status < 500) return { ok: true };
      last = `HTTP ${status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(delay, undefined, { signal }).catch(() => undefined);
    // Capped low: a server is usually up within a second, and 100 concurrent spawns should not
    // wait a whole second past readiness.
    delay = Math.min(delay * 2, 200);
  }
  return { ok: false, detail: last };
}
