/**
 * Verifying an identity header that is a JWT signed by the front proxy. A bad token is refused
 * (403, never a fallback); an unreachable key set is "unavailable" (503), not the user's fault.
 */
import { readFileSync } from 'node:fs';
import { createLocalJWKSet, createRemoteJWKSet, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { AuthRefusedError, AuthUnavailableError } from '../authenticator.js';
import { defaultAlgorithms } from './check.js';
import type { HeaderJwtOptions } from './options.js';

/** Errors that say the token itself is bad, as opposed to the key source. */
const TOKEN_ERRORS = [
  errors.JWSSignatureVerificationFailed,
  errors.JWSInvalid,
  errors.JWTInvalid,
  errors.JOSEAlgNotAllowed,
  errors.JOSENotSupported,
  errors.JWKSNoMatchingKey,
  errors.JWKSMultipleMatchingKeys,
];

export type JwtVerifier = (token: string) => Promise<JWTPayload>;

export function createJwtVerifier(o: HeaderJwtOptions): JwtVerifier {
  const hmac = o.secret !== undefined;
  let key: Uint8Array | JWTVerifyGetKey;
  if (o.secret !== undefined) {
    key = new TextEncoder().encode(o.secret);
  } else if (o.jwksFile !== undefined) {
    key = createLocalJWKSet(JSON.parse(readFileSync(o.jwksFile, 'utf8')) as Parameters<typeof createLocalJWKSet>[0]);
  } else if (o.jwksUrl !== undefined) {
    // The URL was checked against allowedJwksUrls by checkHeaderOptions before we get here.
    key = createRemoteJWKSet(new URL(o.jwksUrl), { timeoutDuration: 5000, cooldownDuration: 30_000 });
  } else {
    throw new Error('jwt: set one of secret, jwksFile, jwksUrl');
  }
  const algorithms = o.algorithms.length ? [...o.algorithms] : defaultAlgorithms(hmac);

  return async (header: string) => {
    const token = header.replace(/^Bearer\s+/i, '');
    try {
      const { payload } = await jwtVerify(token, key as JWTVerifyGetKey, {
        issuer: o.issuer,
        audience: o.audience,
        algorithms,
        clockTolerance: o.clockToleranceSeconds,
        // A token without exp would be valid forever once leaked.
        requiredClaims: ['exp'],
      });
      return payload;
    } catch (e) {
      if (e instanceof errors.JWTExpired) throw new AuthRefusedError('identity token has expired');
      if (e instanceof errors.JWTClaimValidationFailed) throw new AuthRefusedError(`identity token rejected: ${e.claim} claim check failed`);
      if (TOKEN_ERRORS.some((cls) => e instanceof cls)) throw new AuthRefusedError(`identity token rejected (${(e as errors.JOSEError).code})`);
      // Anything else while fetching a remote key set (timeout, connection refused, not 200, not
      // a key set) is the identity provider's trouble, not a bad token.
      if (o.jwksUrl !== undefined) throw new AuthUnavailableError("the identity provider's keys are unavailable", (e as Error).message);
      if (e instanceof errors.JOSEError) throw new AuthRefusedError(`identity token rejected (${e.code})`);
      throw e;
    }
  };
}
