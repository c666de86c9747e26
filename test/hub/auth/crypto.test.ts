/** Unit tests for src/hub/auth/crypto.ts: tokens, hashes, constant-time compare, auth_state cipher. */
import { createDecipheriv, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AuthStateCipher, checkTokenHash, hashToken, loadSecret, newToken, safeEqual, tokenPrefix } from '../../../src/hub/auth/crypto.js';

const key = () => randomBytes(32).toString('hex');

describe('tokens', () => {
  it('are 32 random bytes, hex; never repeat', () => {
    const a = newToken();
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(new Set(Array.from({ length: 100 }, newToken)).size).toBe(100);
  });

  it('hash: not the token, deterministic, checks only the right token', () => {
    const t = newToken();
    const h = hashToken(t);
    expect(h).not.toContain(t);
    expect(hashToken(t)).toBe(h);
    expect(checkTokenHash(t, h)).toBe(true);
    expect(checkTokenHash(t.slice(0, -1), h)).toBe(false);
    expect(checkTokenHash('', h)).toBe(false);
    expect(tokenPrefix(t)).toBe(t.slice(0, 4));
  });

  it('safeEqual compares any lengths', () => {
    expect(safeEqual('abc', 'abc')).toBe(true);
    expect(safeEqual('abc', 'abd')).toBe(false);
    expect(safeEqual('abc', 'abcd')).toBe(false);
    expect(safeEqual('', '')).toBe(true);
  });
});

describe('loadSecret', () => {
  it('prefers the environment; else generates once, 0600, and reuses it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'atrium-secret-'));
    try {
      expect(loadSecret(dir, 'k', '  fromenv  ')).toBe('fromenv');
      const a = loadSecret(dir, 'k', undefined);
      expect(a).toMatch(/^[0-9a-f]{64}$/);
      expect(statSync(join(dir, 'k')).mode & 0o777).toBe(0o600);
      expect(loadSecret(dir, 'k', '')).toBe(a);
      expect(readFileSync(join(dir, 'k'), 'utf8').trim()).toBe(a);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('AuthStateCipher (AES-256-GCM)', () => {
  const state = { token: 'very-secret-access-token', nested: { PRIVATEKEY: '-----BEGIN KEY-----' } };

  it('round-trips; the blob does not contain the plaintext; fresh IV each time', () => {
    const c = new AuthStateCipher(key());
    const blob = c.encrypt(state);
    expect(blob.toString('latin1')).not.toContain('very-secret');
    expect(blob.toString('latin1')).not.toContain('BEGIN KEY');
    expect(c.decrypt(blob)).toEqual(state);
    expect(c.encrypt(state).equals(blob)).toBe(false);
  });

  it('decrypts with the key directly (documented layout: version, key id, IV, tag, body)', () => {
    const k = key();
    const blob = new AuthStateCipher(k).encrypt(state);
    expect(blob[0]).toBe(1);
    const d = createDecipheriv('aes-256-gcm', Buffer.from(k, 'hex'), blob.subarray(5, 17));
    d.setAAD(blob.subarray(1, 5));
    d.setAuthTag(blob.subarray(17, 33));
    expect(JSON.parse(Buffer.concat([d.update(blob.subarray(33)), d.final()]).toString())).toEqual(state);
  });

  it('accepts base64 keys; refuses short or empty key lists', () => {
    const b64 = randomBytes(32).toString('base64');
    expect(new AuthStateCipher(b64).decrypt(new AuthStateCipher(b64).encrypt(1))).toBe(1);
    expect(() => new AuthStateCipher('')).toThrow();
    expect(() => new AuthStateCipher(' ; ')).toThrow();
    expect(() => new AuthStateCipher('abcd')).toThrow(/32 bytes/);
  });

  it('rotation: "new;old" decrypts old blobs and encrypts with the new key', () => {
    const oldK = key();
    const newK = key();
    const oldBlob = new AuthStateCipher(oldK).encrypt(state);
    const rotated = new AuthStateCipher(`${newK};${oldK}`);
    expect(rotated.decrypt(oldBlob)).toEqual(state);
    const fresh = rotated.encrypt(state);
    expect(new AuthStateCipher(newK).decrypt(fresh)).toEqual(state);
    expect(() => new AuthStateCipher(oldK).decrypt(fresh)).toThrow();
    // a key that was dropped from the list no longer decrypts
    expect(() => new AuthStateCipher(newK).decrypt(oldBlob)).toThrow(/not configured/);
  });

  it('tampering with any part fails', () => {
    const c = new AuthStateCipher(key());
    const blob = c.encrypt(state);
    for (const i of [0, 1, 6, 20, 40, blob.length - 1]) {
      const t = Buffer.from(blob);
      t[i] = t[i]! ^ 0x01;
      expect(() => c.decrypt(t), `byte ${i}`).toThrow();
    }
    expect(() => c.decrypt(blob.subarray(0, 20))).toThrow();
    expect(() => c.decrypt(Buffer.alloc(0))).toThrow();
  });

  it('a blob from another key with the same layout fails', () => {
    const a = new AuthStateCipher(key());
    const b = new AuthStateCipher(key());
    expect(() => b.decrypt(a.encrypt(state))).toThrow();
  });
});
