/**
 * The one constant-time comparison of secrets (tokens, passwords, the proxy proof). Both sides
 * are hashed first so their lengths are equal, which timingSafeEqual needs, and so the time
 * taken says nothing about the secret's length either.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

export function safeEqual(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b)) && a.length === b.length;
}

/** A checker against one fixed secret, hashed once (the proxy's API token, a shared password). */
export function secretChecker(secret: string): (candidate: string) => boolean {
  const expected = digest(secret);
  return (candidate) => timingSafeEqual(digest(candidate), expected);
}
