/**
 * Host key rules of the SSH spawner (host-keys.ts) with keys made by the real ssh-keygen and
 * known_hosts lines in OpenSSH's formats: plain, [host]:port, hashed (ssh-keygen -H), wildcards,
 * negation, @revoked, pinned keys; unknown keys only with the explicit opt-in.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkHostKey, fingerprint } from '../../src/shared/ssh/host-keys.js';
import type { SshHost } from '../../src/spawners/ssh/options.js';

const dir = mkdtempSync(join(tmpdir(), 'atrium-hostkeys-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function keygen(name: string): { line: string; blob: Buffer } {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', join(dir, name)]);
  const line = readFileSync(join(dir, `${name}.pub`), 'utf8').trim().split(' ').slice(0, 2).join(' ');
  return { line, blob: Buffer.from(line.split(' ')[1]!, 'base64') };
}
const good = keygen('good');
const other = keygen('other');

function host(p: Partial<SshHost> = {}): SshHost {
  return { name: 'h', address: '192.0.2.10', port: 22, hostKeys: [], acceptUnknownHostKey: false, maxSessions: 100, ...p };
}
function knownHosts(text: string): string {
  const f = join(dir, `kh-${Math.random().toString(36).slice(2)}`);
  writeFileSync(f, text);
  return f;
}

describe('SSH host key checks', () => {
  it('a plain known_hosts entry accepts its key and refuses another with both fingerprints', () => {
    const f = knownHosts(`192.0.2.10 ${good.line}\n`);
    expect(checkHostKey(host(), f, good.blob)).toEqual({ ok: true, insecure: false });
    const v = checkHostKey(host(), f, other.blob);
    expect(v.ok).toBe(false);
    expect(!v.ok && v.reason).toContain(`it offered ${fingerprint(other.blob)}, expected ${fingerprint(good.blob)}`);
  });

  it('a non-22 port needs the [host]:port form', () => {
    const f = knownHosts(`[192.0.2.10]:2222 ${good.line}\n192.0.2.10 ${other.line}\n`);
    expect(checkHostKey(host({ port: 2222 }), f, good.blob).ok).toBe(true);
    expect(checkHostKey(host({ port: 2222 }), f, other.blob).ok).toBe(false);
    expect(checkHostKey(host(), f, good.blob).ok).toBe(false);
  });

  it('hashed entries made by ssh-keygen -H match', () => {
    const f = knownHosts(`192.0.2.10 ${good.line}\n[192.0.2.10]:2222 ${good.line}\n`);
    execFileSync('ssh-keygen', ['-q', '-H', '-f', f]);
    expect(readFileSync(f, 'utf8')).not.toContain('192.0.2.10');
    expect(checkHostKey(host(), f, good.blob).ok).toBe(true);
    expect(checkHostKey(host({ port: 2222 }), f, good.blob).ok).toBe(true);
    expect(checkHostKey(host({ address: '192.0.2.11' }), f, good.blob).ok).toBe(false);
  });

  it('wildcards, negation and @revoked', () => {
    const f = knownHosts(`192.0.2.*,!192.0.2.11 ${good.line}\n@revoked * ${other.line}\n`);
    expect(checkHostKey(host(), f, good.blob).ok).toBe(true);
    expect(checkHostKey(host({ address: '192.0.2.11' }), f, good.blob).ok).toBe(false);
    const v = checkHostKey(host({ acceptUnknownHostKey: true }), f, other.blob);
    expect(!v.ok && v.reason).toMatch(/@revoked/); // even the opt-in does not accept a revoked key
  });

  it('pinned keys replace the file; an unknown key passes only with acceptUnknownHostKey, flagged insecure', () => {
    const missing = join(dir, 'nope');
    expect(checkHostKey(host({ hostKeys: [good.line] }), missing, good.blob)).toEqual({ ok: true, insecure: false });
    const v = checkHostKey(host({ hostKeys: [good.line] }), missing, other.blob);
    expect(!v.ok && v.reason).toMatch(/does not match the pinned host keys/);
    const unreadable = checkHostKey(host(), missing, good.blob);
    expect(!unreadable.ok && unreadable.reason).toMatch(/cannot be checked: .*nope is not readable \(ENOENT\)/);
    const empty = knownHosts('');
    const unknown = checkHostKey(host(), empty, good.blob);
    expect(!unknown.ok && unknown.reason).toMatch(/is unknown: it is not in/);
    expect(checkHostKey(host({ acceptUnknownHostKey: true }), empty, good.blob)).toEqual({ ok: true, insecure: true });
  });
});
