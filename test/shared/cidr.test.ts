import { describe, expect, it } from 'vitest';
import { cidrMatcher, isValidCidr, parseAddress, parseCidr } from '../../src/shared/cidr.js';

describe('parseAddress', () => {
  it('parses IPv4 and IPv6, folding IPv4-mapped IPv6 into IPv4', () => {
    expect(parseAddress('127.0.0.1')).toEqual({ family: 4, value: 0x7f000001n });
    expect(parseAddress('::ffff:127.0.0.1')).toEqual({ family: 4, value: 0x7f000001n });
    expect(parseAddress('::ffff:7f00:1')).toEqual({ family: 4, value: 0x7f000001n });
    expect(parseAddress('::1')).toEqual({ family: 6, value: 1n });
    expect(parseAddress('[::1]')).toEqual({ family: 6, value: 1n });
    expect(parseAddress('fe80::1%eth0')).toEqual({ family: 6, value: (0xfe80n << 112n) | 1n });
    expect(parseAddress('2001:db8::')?.value).toBe(0x20010db8n << 96n);
  });
  it('rejects garbage', () => {
    for (const bad of ['', 'localhost', '1.2.3', '256.1.1.1', '::g', '1.2.3.4/8', 'x'.repeat(1000)]) {
      expect(parseAddress(bad)).toBeNull();
    }
  });
});

describe('parseCidr', () => {
  it('accepts networks and single addresses', () => {
    expect(parseCidr('10.0.0.0/8')).toEqual({ family: 4, network: 0x0a000000n, prefixLength: 8 });
    expect(parseCidr('10.1.2.3/8').network).toBe(0x0a000000n);
    expect(parseCidr('192.168.1.5')).toEqual({ family: 4, network: 0xc0a80105n, prefixLength: 32 });
    expect(parseCidr('::1')).toEqual({ family: 6, network: 1n, prefixLength: 128 });
    expect(parseCidr('::ffff:10.0.0.0/104')).toEqual({ family: 4, network: 0x0a000000n, prefixLength: 8 });
    expect(parseCidr('0.0.0.0/0').prefixLength).toBe(0);
  });
  it('rejects bad prefixes and addresses', () => {
    for (const bad of ['10.0.0.0/33', '::/129', '10.0.0.0/', '10.0.0.0/x', 'example.org/24', '10.0.0.0/-1', '']) {
      expect(isValidCidr(bad), bad).toBe(false);
    }
  });
});

describe('cidrMatcher', () => {
  const m = cidrMatcher(['127.0.0.1', '10.0.0.0/8', 'fd00::/8', '::1']);
  it('matches inside the ranges', () => {
    for (const ok of ['127.0.0.1', '::ffff:127.0.0.1', '10.255.1.2', '::ffff:10.9.9.9', 'fd12:3456::1', '::1']) {
      expect(m(ok), ok).toBe(true);
    }
  });
  it('refuses outside the ranges and across families', () => {
    for (const no of ['127.0.0.2', '11.0.0.1', '9.255.255.255', 'fe80::1', '::2', '::ffff:11.0.0.1', '', 'nonsense', '0.0.0.0']) {
      expect(m(no), no).toBe(false);
    }
  });
  it('an empty list matches nothing; /0 matches its family only', () => {
    expect(cidrMatcher([])('127.0.0.1')).toBe(false);
    const any4 = cidrMatcher(['0.0.0.0/0']);
    expect(any4('8.8.8.8')).toBe(true);
    expect(any4('::ffff:8.8.8.8')).toBe(true);
    expect(any4('2001:db8::1')).toBe(false);
  });
  it('throws on a bad entry', () => {
    expect(() => cidrMatcher(['10.0.0.0/40'])).toThrow(/prefix length/);
  });
});
