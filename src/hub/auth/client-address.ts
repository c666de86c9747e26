/**
 * The address of the client behind a request. The TCP peer is the answer unless the peer is a
 * proxy we can authenticate; then it is the last X-Forwarded-For entry, the one that proxy
 * appended for its own peer. Never further back: a front proxy (portal) must be checked as the
 * peer by header authenticators, and anything it forwarded from its own clients could be forged.
 *
 * A proxy is believed when
 * - the request carries the proxy proof (X-Atrium-Proxy-Proof, a secret only the hub and its
 *   atrium-proxy hold; the proxy strips client copies), or
 * - the peer is listed in hub.trustedProxies (a proxy that cannot send the proof, e.g. CHP).
 * Loopback is NOT trusted by itself: every process on this host (every user's server under the
 * local spawner) can connect to the hub port from 127.0.0.1 and write any X-Forwarded-For.
 */
import type { FastifyRequest } from 'fastify';
import type { HubContext } from '../context.js';
import { cidrMatcher } from '../../shared/cidr.js';
import { safeEqual } from './crypto.js';

/** Lower-case, as node presents request headers; the proxy side is src/proxy/headers.ts. */
export const PROOF_HEADER = 'x-atrium-proxy-proof';

const cache = new WeakMap<HubContext, (a: string) => boolean>();

function listedProxy(hub: HubContext): (a: string) => boolean {
  let m = cache.get(hub);
  if (!m) {
    m = cidrMatcher(hub.config.hub.trustedProxies);
    cache.set(hub, m);
  }
  return m;
}

/** True when the request came through our proxy, proven by the shared secret. */
export function carriesProxyProof(hub: HubContext, req: FastifyRequest): boolean {
  const sent = req.headers[PROOF_HEADER];
  // A repeated header is not something our proxy sends.
  return typeof sent === 'string' && Boolean(hub.proxyProof) && safeEqual(sent, hub.proxyProof);
}

export function clientAddress(hub: HubContext, req: FastifyRequest): string {
  const peer = req.socket.remoteAddress ?? '';
  if (!carriesProxyProof(hub, req) && !listedProxy(hub)(peer)) return peer;
  const raw = req.headers['x-forwarded-for'];
  const hops = (Array.isArray(raw) ? raw.join(',') : raw ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return hops.pop() ?? peer;
}
