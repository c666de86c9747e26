/**
 * A small CIDR matcher for "which peers may send identity headers". Addresses are turned into
 * bigints so IPv4 and IPv6 share one mask-and-compare. IPv4-mapped IPv6 addresses
 * (::ffff:127.0.0.1, what a dual-stack Node socket reports for IPv4 clients) are folded into
 * IPv4 on both sides, so "127.0.0.1/8" matches them and "::ffff:10.0.0.0/104" means 10.0.0.0/8.
 */
import { isIPv4, isIPv6 } from 'node:net';

export interface Address {
  family: 4 | 6;
  value: bigint;
}

export interface Cidr {
  family: 4 | 6;
  /** The network with host bits cleared. */
  network: bigint;
  prefixLength: number;
}

const MAPPED_PREFIX = 0xffffn << 32n;

function ipv4ToBigint(text: string): bigint {
  return text.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
}

function ipv6ToBigint(text: string): bigint {
  let head = text;
  // An embedded dotted-quad tail (::ffff:1.2.3.4) becomes two 16-bit words.
  const lastColon = head.lastIndexOf(':');
  const tail = head.slice(lastColon + 1);
  if (tail.includes('.')) {
    const v4 = ipv4ToBigint(tail);
    head = `${head.slice(0, lastColon + 1)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [left, right] = head.includes('::') ? head.split('::') : [head, undefined];
  const leftWords = left ? left.split(':') : [];
  const rightWords = right !== undefined && right !== '' ? right.split(':') : [];
  const missing = 8 - leftWords.length - rightWords.length;
  const words = right === undefined ? leftWords : [...leftWords, ...Array<string>(missing).fill('0'), ...rightWords];
  return words.reduce((acc, w) => (acc << 16n) | BigInt(parseInt(w || '0', 16)), 0n);
}

/** Parse an IPv4 or IPv6 address (zone ids like %eth0 are ignored); null if it is not one. */
export function parseAddress(text: string): Address | null {
  const bare = text.trim().replace(/^\[(.*)\]$/, '$1').replace(/%.*$/, '');
  if (isIPv4(bare)) return { family: 4, value: ipv4ToBigint(bare) };
  if (!isIPv6(bare)) return null;
  const value = ipv6ToBigint(bare);
  if (value >> 32n === 0xffffn) return { family: 4, value: value & 0xffffffffn };
  return { family: 6, value };
}

/** Parse "10.0.0.0/8", "fd00::/8" or a single address (a /32 or /128). Throws on bad input. */
export function parseCidr(text: string): Cidr {
  const slash = text.indexOf('/');
  const addrText = slash === -1 ? text : text.slice(0, slash);
  const bare = addrText.trim().replace(/^\[(.*)\]$/, '$1');
  if (!isIPv4(bare) && !isIPv6(bare)) throw new Error(`"${text}" is not an IP address or CIDR`);
  const isV6Text = isIPv6(bare);
  const full = isV6Text ? 128 : 32;
  let prefixLength = full;
  if (slash !== -1) {
    const lenText = text.slice(slash + 1).trim();
    if (!/^\d{1,3}$/.test(lenText) || Number(lenText) > full) {
      throw new Error(`"${text}": prefix length must be 0..${full}`);
    }
    prefixLength = Number(lenText);
  }
  let family: 4 | 6 = isV6Text ? 6 : 4;
  let value = isV6Text ? ipv6ToBigint(bare) : ipv4ToBigint(bare);
  // ::ffff:a.b.c.d/N with N >= 96 is an IPv4 network written the IPv6 way.
  if (isV6Text && prefixLength >= 96 && (value & ~0xffffffffn) === MAPPED_PREFIX) {
    family = 4;
    value &= 0xffffffffn;
    prefixLength -= 96;
  }
  const bits = family === 4 ? 32 : 128;
  const mask = prefixLength === 0 ? 0n : ((1n << BigInt(prefixLength)) - 1n) << BigInt(bits - prefixLength);
  return { family, network: value & mask, prefixLength };
}

export function isValidCidr(text: string): boolean {
  try {
    parseCidr(text);
    return true;
  } catch {
    return false;
  }
}

export function cidrContains(cidr: Cidr, address: Address): boolean {
  if (cidr.family !== address.family) return false;
  const bits = cidr.family === 4 ? 32 : 128;
  const shift = BigInt(bits - cidr.prefixLength);
  return address.value >> shift === cidr.network >> shift;
}

/**
 * Compile a list once into a predicate. Throws on the first bad entry (config validation reports
 * them all earlier). An unparsable peer address never matches.
 */
export function cidrMatcher(list: readonly string[]): (address: string) => boolean {
  const cidrs = list.map(parseCidr);
  return (address: string) => {
    const parsed = parseAddress(address);
    return parsed !== null && cidrs.some((c) => cidrContains(c, parsed));
  };
}
