/**
 * Checks on the header authenticator's options that JSON Schema cannot express. Used by the
 * config loader (so every problem is reported with its line) and again by create() (so a
 * hand-built options object cannot skip them).
 */
import { readFileSync } from 'node:fs';
import { isValidCidr } from '../../shared/cidr.js';
import type { OptionProblem } from '../../shared/kind.js';
import { regexError } from '../../shared/regex.js';

export type { OptionProblem } from '../../shared/kind.js';

const HMAC_ALGS = ['HS256', 'HS384', 'HS512'];
const KEYSET_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
export const MIN_SECRET_LENGTH = 32;

function regexProblem(pattern: unknown, segments: (string | number)[]): OptionProblem[] {
  const message = typeof pattern === 'string' ? regexError(pattern) : null;
  return message ? [{ segments, message }] : [];
}

function textRuleProblems(o: Record<string, unknown>, base: (string | number)[]): OptionProblem[] {
  const out = regexProblem(o.pattern, [...base, 'pattern']);
  if (Array.isArray(o.replace)) {
    o.replace.forEach((r: unknown, i) => {
      if (r && typeof r === 'object') out.push(...regexProblem((r as Record<string, unknown>).pattern, [...base, 'replace', i, 'pattern']));
    });
  }
  return out;
}

/**
 * `active`: the header authenticator is the configured kind, so a missing trust list is an
 * error rather than an unused block. Tolerates values of the wrong type (the schema reports those).
 */
export function checkHeaderOptions(options: unknown, active: boolean): OptionProblem[] {
  if (!options || typeof options !== 'object') return [];
  const o = options as Record<string, unknown>;
  const out: OptionProblem[] = [];
  const proxies = Array.isArray(o.trustedProxies) ? o.trustedProxies : [];
  if (active && proxies.length === 0) {
    out.push({
      segments: ['trustedProxies'],
      message: 'the header authenticator needs at least one trusted proxy address (e.g. 127.0.0.1 for a portal on this host)',
    });
  }
  proxies.forEach((p: unknown, i) => {
    if (typeof p === 'string' && !isValidCidr(p)) out.push({ segments: ['trustedProxies', i], message: `"${p}" is not an IP address or CIDR` });
  });
  out.push(...textRuleProblems(o, []));

  if (Array.isArray(o.authStateHeaders)) {
    const keys = new Set<string>();
    o.authStateHeaders.forEach((h: unknown, i) => {
      if (!h || typeof h !== 'object') return;
      const entry = h as Record<string, unknown>;
      const base = ['authStateHeaders', i];
      out.push(...textRuleProblems(entry, base));
      if (entry.parse === 'json' && (entry.pattern !== undefined || (Array.isArray(entry.replace) && entry.replace.length) || entry.lowercase === true)) {
        out.push({ segments: [...base, 'parse'], message: 'pattern, lowercase and replace apply to parse: text only' });
      }
      if (entry.parse !== 'json' && Array.isArray(entry.fields) && entry.fields.length) {
        out.push({ segments: [...base, 'fields'], message: 'fields applies to parse: json only' });
      }
      if (typeof entry.key === 'string') {
        if (keys.has(entry.key)) out.push({ segments: [...base, 'key'], message: `auth_state key "${entry.key}" is used twice` });
        keys.add(entry.key);
      }
    });
  }

  if (o.jwt && typeof o.jwt === 'object') out.push(...checkJwt(o.jwt as Record<string, unknown>));
  return out;
}

function checkJwt(j: Record<string, unknown>): OptionProblem[] {
  const out: OptionProblem[] = [];
  const sources = ['secret', 'jwksFile', 'jwksUrl'].filter((k) => j[k] !== undefined);
  if (sources.length !== 1) {
    out.push({ segments: ['jwt'], message: `set exactly one of secret, jwksFile, jwksUrl (got ${sources.join(', ') || 'none'})` });
  }
  if (typeof j.secret === 'string' && j.secret.length < MIN_SECRET_LENGTH) {
    out.push({ segments: ['jwt', 'secret'], message: `must be at least ${MIN_SECRET_LENGTH} characters (a short HMAC secret can be guessed)` });
  }
  if (typeof j.jwksUrl === 'string') {
    const allowed = Array.isArray(j.allowedJwksUrls) ? j.allowedJwksUrls : [];
    if (!URL.canParse(j.jwksUrl) || !/^https?:$/.test(new URL(j.jwksUrl).protocol)) {
      out.push({ segments: ['jwt', 'jwksUrl'], message: 'must be an http(s) URL' });
    } else if (!allowed.includes(j.jwksUrl)) {
      out.push({ segments: ['jwt', 'jwksUrl'], message: 'is not listed in authenticator.header.jwt.allowedJwksUrls' });
    }
  }
  if (typeof j.jwksFile === 'string') {
    // Read at start by the verifier: an unreadable or non-JSON key set must fail the check.
    try {
      const set = JSON.parse(readFileSync(j.jwksFile, 'utf8')) as unknown;
      if (!isPlainObject(set) || !Array.isArray(set.keys) || !set.keys.every(isPlainObject)) out.push({ segments: ['jwt', 'jwksFile'], message: 'is not a JSON Web Key Set ({"keys": [...]})' });
    } catch (e) {
      const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
      out.push({ segments: ['jwt', 'jwksFile'], message: `cannot read the key set (${why})` });
    }
  }
  const hmac = typeof j.secret === 'string';
  const valid = hmac ? HMAC_ALGS : KEYSET_ALGS;
  if (Array.isArray(j.algorithms)) {
    j.algorithms.forEach((a: unknown, i) => {
      if (typeof a === 'string' && !valid.includes(a)) {
        out.push({ segments: ['jwt', 'algorithms', i], message: `"${a}" cannot be used with ${hmac ? 'a shared secret' : 'a key set'} (use ${valid.join(', ')})` });
      }
    });
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export function defaultAlgorithms(hmac: boolean): string[] {
  return hmac ? ['HS256'] : ['RS256', 'PS256', 'ES256', 'EdDSA'];
}
