/**
 * Tokens, hashes and the auth_state cipher. Tokens are 32 random bytes; only their SHA-256 is
 * stored (high-entropy secrets need no slow hash), looked up by a short prefix and compared in
 * constant time. auth_state is sealed with AES-256-GCM; several keys may be configured so keys
 * can be rotated: the first encrypts, every key decrypts.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { safeEqual } from '../../shared/secret-compare.js';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensurePrivateDir, tightenFile } from '../private-files.js';

export const TOKEN_PREFIX_LENGTH = 4;

export function newToken(): string {
  return randomBytes(32).toString('hex');
}

export function hashToken(token: string): string {
  return 'sha256:' + createHash('sha256').update(token, 'utf8').digest('hex');
}

export function tokenPrefix(token: string): string {
  return token.slice(0, TOKEN_PREFIX_LENGTH);
}

export { safeEqual };

export function checkTokenHash(token: string, hashed: string): boolean {
  return safeEqual(hashToken(token), hashed);
}

/** Read a secret from the environment, else from stateDir (generated on first start, 0600). */
export function loadSecret(stateDir: string, fileName: string, envValue: string | undefined, bytes = 32): string {
  if (envValue && envValue.trim()) return envValue.trim();
  ensurePrivateDir(stateDir);
  const file = join(stateDir, fileName);
  if (existsSync(file)) {
    tightenFile(file);
    return readFileSync(file, 'utf8').trim();
  }
  const value = randomBytes(bytes).toString('hex');
  writeFileSync(file, value + '\n', { mode: 0o600, flag: 'wx' });
  tightenFile(file);
  return value;
}

function parseKey(text: string): Buffer {
  const t = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(t)) return Buffer.from(t, 'hex');
  const b = Buffer.from(t, 'base64');
  if (b.length === 32) return b;
  throw new Error('an auth_state key must be 32 bytes, as 64 hex characters or base64');
}

const VERSION = 1;

export class AuthStateCipher {
  private readonly keys: { id: Buffer; key: Buffer }[];

  /** `keysText`: one or more keys separated by ';' (hex or base64); the first one encrypts. */
  constructor(keysText: string) {
    const parts = keysText.split(';').map((s) => s.trim()).filter(Boolean);
    if (parts.length === 0) throw new Error('no auth_state key configured');
    this.keys = parts.map((p) => {
      const key = parseKey(p);
      return { key, id: createHash('sha256').update(key).digest().subarray(0, 4) };
    });
  }

  encrypt(value: unknown): Buffer {
    const { key, id } = this.keys[0]!;
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(id);
    const body = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
    return Buffer.concat([Buffer.from([VERSION]), id, iv, cipher.getAuthTag(), body]);
  }

  decrypt(blob: Buffer): unknown {
    if (blob.length < 1 + 4 + 12 + 16 || blob[0] !== VERSION) throw new Error('auth_state blob has an unknown format');
    const id = blob.subarray(1, 5);
    const iv = blob.subarray(5, 17);
    const tag = blob.subarray(17, 33);
    const body = blob.subarray(33);
    const k = this.keys.find((x) => x.id.equals(id));
    if (!k) throw new Error('auth_state was encrypted with a key that is not configured any more');
    const decipher = createDecipheriv('aes-256-gcm', k.key, iv);
    decipher.setAAD(id);
    decipher.setAuthTag(tag);
    return JSON.parse(Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8'));
  }
}
