/**
 * The address that connected to our proxy. Requests reach the hub through the proxy, so the TCP
 * peer is usually the proxy itself (loopback for the child proxy, or an address listed in
 * hub.trustedProxies for an external one); it appends the real peer to X-Forwarded-For, so we
 * step back exactly one hop. Never further: a front proxy (portal) must be checked as the peer by
 * header authenticators, and anything it forwarded from its own clients could be forged.
 */
import type { FastifyRequest } from 'fastify';
import type { HubContext } from '../context.js';
import { cidrMatcher } from '../../shared/cidr.js';

const cache = new WeakMap<HubContext, (a: string) => boolean>();

function trusted(hub: HubContext): (a: string) => boolean {
  let m = cache.get(hub);
  if (!m) {
    const list = [...hub.config.hub.trustedProxies];
    if (!hub.config.proxy.external) list.push('127.0.0.1/32', '::1/128');
    m = cidrMatcher(list);
    cache.set(hub, m);
  }
  return m;
}

export function clientAddress(hub: HubContext, req: FastifyRequest): string {
  let addr = req.socket.remoteAddress ?? '';
  const isTrusted = trusted(hub);
  const raw = req.headers['x-forwarded-for'];
  const hops = (Array.isArray(raw) ? raw.join(',') : raw ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (isTrusted(addr) && hops.length > 0) addr = hops.pop()!;
  return addr;
}
