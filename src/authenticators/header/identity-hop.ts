/**
 * Refuses configurations in which a process on the hub's own host could assert an identity.
 *
 * With the header authenticator the identity header is believed from the addresses in
 * authenticator.header.trustedProxies. Processes on this host can connect from loopback or from
 * any of the host's own addresses, so if such an address is trusted, and users' servers run on
 * this host (a spawner kind whose descriptor says serversOnHubHost, e.g. local), any user could
 * log in as anyone, admins included. The same holds
 * when hub.trustedProxies names such an address: the hub then believes the X-Forwarded-For that
 * a local process writes. A signed identity (authenticator.header.jwt) is the one thing a local
 * process cannot produce, so it makes both safe.
 */
import { networkInterfaces } from 'node:os';
import { parseAddress, parseCidr, cidrContains, type Cidr } from '../../shared/cidr.js';
import type { ConfigProblemAt, CrossCheckContext } from '../../shared/kind.js';

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {});

/** This host's own addresses (loopback included); a process here can use any of them as source. */
function hostAddresses(): string[] {
  const out = ['127.0.0.1', '::1'];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) out.push(a.address);
  }
  return out;
}

function overlapsLoopback(c: Cidr): boolean {
  if (c.family === 6) return cidrContains(c, parseAddress('::1')!);
  // Every 127.x.y.z is local, so a /32 inside 127/8 is as bad as the whole block.
  return c.prefixLength <= 8 ? cidrContains(c, parseAddress('127.0.0.1')!) : c.network >> 24n === 127n;
}

/** The first address of this host an entry covers, or null. */
function localAddressIn(entry: string, own: string[]): string | null {
  let c: Cidr;
  try {
    c = parseCidr(entry);
  } catch {
    return null; // reported by the CIDR check
  }
  if (overlapsLoopback(c)) return c.family === 6 ? '::1' : '127.0.0.1';
  for (const a of own) {
    const parsed = parseAddress(a);
    if (parsed && cidrContains(c, parsed)) return a;
  }
  return null;
}

/** The header authenticator's cross-check (its descriptor's crossChecks). */
export function identityHopProblems(options: unknown, ctx: CrossCheckContext, own: string[] = hostAddresses()): ConfigProblemAt[] {
  const header = obj(options);
  if (header.jwt !== undefined || !ctx.spawner?.serversOnHubHost) return [];

  const why = `while spawner.kind is ${ctx.spawner.name} and authenticator.header.jwt is not set`;
  const out: ConfigProblemAt[] = [];
  const list = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
  list(header.trustedProxies).forEach((entry, i) => {
    const local = localAddressIn(entry, own);
    if (local === null) return;
    out.push({
      segments: ['authenticator', 'header', 'trustedProxies', i],
      message:
        `"${entry}" covers ${local}, an address of this host, ${why}: any process here (every user's server) ` +
        'could send identity headers and log in as anyone, admins included. Set authenticator.header.jwt so the ' +
        'portal signs each identity, or run the portal on another host and trust only its address.',
    });
  });
  list(obj(ctx.config.hub).trustedProxies).forEach((entry, i) => {
    const local = localAddressIn(entry, own);
    if (local === null) return;
    out.push({
      segments: ['hub', 'trustedProxies', i],
      message:
        `"${entry}" covers ${local}, an address of this host, ${why}: any process here could connect to the hub ` +
        'and name the portal in X-Forwarded-For. Remove it and let atrium-proxy vouch for client addresses with the ' +
        'proxy proof (the child proxy does; an external one needs ATRIUM_PROXY_PROOF or --proxy-proof-file), ' +
        'or set authenticator.header.jwt.',
    });
  });
  return out;
}
