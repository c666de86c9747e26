/**
 * Host key checking for the hub's ssh2 connections, with OpenSSH's rules: pinned keys from config,
 * or a known_hosts file (plain and hashed host patterns, [host]:port for other ports, wildcards,
 * negation, @revoked). A host with no matching entry is refused unless the admin opted in to
 * accepting unknown keys, and that opt-in is logged at every connection.
 */
import { createHash, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { SshHost } from './types.js';

/** Key blob of a public key line ("ssh-ed25519 AAAA… comment"). */
function blobOf(line: string): Buffer | null {
  const b64 = line.trim().split(/\s+/)[1];
  if (!b64) return null;
  const buf = Buffer.from(b64, 'base64');
  return buf.length > 0 ? buf : null;
}

export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** The name known_hosts uses for address:port. */
export function knownHostsName(address: string, port: number): string {
  return port === 22 ? address : `[${address}]:${port}`;
}

function globMatch(pattern: string, name: string): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i');
  return re.test(name);
}

function patternMatches(pattern: string, name: string): boolean {
  if (pattern.startsWith('|1|')) {
    const [, , salt, hash] = pattern.split('|');
    if (!salt || !hash) return false;
    const got = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64');
    return got === hash;
  }
  return globMatch(pattern, name);
}

/** Whether a comma-separated host pattern list names `name` (a negated match wins). */
function hostListMatches(list: string, name: string): boolean {
  let hit = false;
  for (const p of list.split(',')) {
    if (p.startsWith('!')) {
      if (patternMatches(p.slice(1), name)) return false;
    } else if (patternMatches(p, name)) hit = true;
  }
  return hit;
}

export interface KnownKeys {
  keys: Buffer[];
  revoked: Buffer[];
}

/** The keys a known_hosts text lists for `name` (cert-authority lines are not supported and skipped). */
export function parseKnownHosts(text: string, name: string): KnownKeys {
  const out: KnownKeys = { keys: [], revoked: [] };
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const fields = line.split(/\s+/);
    let marker: string | null = null;
    if (fields[0]!.startsWith('@')) marker = fields.shift()!;
    if (fields.length < 3 || marker === '@cert-authority') continue;
    if (!hostListMatches(fields[0]!, name)) continue;
    const blob = blobOf(`${fields[1]} ${fields[2]}`);
    if (!blob) continue;
    (marker === '@revoked' ? out.revoked : out.keys).push(blob);
  }
  return out;
}

export type HostKeyVerdict = { ok: true; insecure: boolean } | { ok: false; reason: string };

/** Decide whether `blob` is the right key for `host`; never throws. */
export function checkHostKey(host: SshHost, defaultKnownHosts: string, blob: Buffer): HostKeyVerdict {
  const fp = fingerprint(blob);
  const where = `${host.name} (${host.address}:${host.port})`;
  let known: KnownKeys;
  let source: string;
  if (host.hostKeys.length > 0) {
    known = { keys: host.hostKeys.map(blobOf).filter((b): b is Buffer => b !== null), revoked: [] };
    source = 'the pinned host keys';
  } else {
    const file = host.knownHostsFile ?? defaultKnownHosts;
    source = file;
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if (!host.acceptUnknownHostKey) return { ok: false, reason: `host key of ${where} cannot be checked: ${file} is not readable (${(err as NodeJS.ErrnoException).code ?? String(err)})` };
    }
    known = parseKnownHosts(text, knownHostsName(host.address, host.port));
  }
  if (known.revoked.some((k) => k.equals(blob))) return { ok: false, reason: `host key of ${where} (${fp}) is marked @revoked in ${source}` };
  if (known.keys.some((k) => k.equals(blob))) return { ok: true, insecure: false };
  if (host.acceptUnknownHostKey) return { ok: true, insecure: true };
  if (known.keys.length > 0) {
    return { ok: false, reason: `host key of ${where} does not match ${source}: it offered ${fp}, expected ${known.keys.map(fingerprint).join(' or ')} (possible man-in-the-middle; connection refused)` };
  }
  return { ok: false, reason: `host key of ${where} (${fp}) is unknown: it is not in ${source} (connection refused)` };
}

/** An ssh2 hostVerifier that records why it refused, for the error message. */
export function hostVerifier(host: SshHost, defaultKnownHosts: string, log: Logger, onRefused: (reason: string) => void) {
  return (blob: Buffer): boolean => {
    const v = checkHostKey(host, defaultKnownHosts, blob);
    if (!v.ok) {
      log.error({ host: host.name, reason: v.reason }, 'ssh host key refused');
      onRefused(v.reason);
      return false;
    }
    if (v.insecure) log.warn({ host: host.name, fingerprint: fingerprint(blob) }, 'ssh host key NOT checked (acceptUnknownHostKey is set for this host)');
    return true;
  };
}
