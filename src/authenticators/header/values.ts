/**
 * Reading and shaping header values. Everything here treats its input as hostile: the front
 * proxy is trusted to set the headers, but a misconfigured one may pass a client's through.
 */
import { AuthRefusedError, type AuthRequest } from '../authenticator.js';

// Control characters have no business in identities; they smuggle log lines and confuse shells.
const CONTROL = /[\u0000-\u001f\u007f]/;
const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;
const UNSAFE_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

export interface CompiledTextRules {
  pattern?: RegExp;
  lowercase: boolean;
  replace: { pattern: RegExp; with: string }[];
}

export function compileTextRules(o: {
  pattern?: string;
  lowercase?: boolean;
  replace?: readonly { pattern: string; with?: string }[];
}): CompiledTextRules {
  return {
    pattern: o.pattern === undefined ? undefined : new RegExp(o.pattern),
    lowercase: o.lowercase ?? false,
    replace: (o.replace ?? []).map((r) => ({ pattern: new RegExp(r.pattern, 'g'), with: r.with ?? '' })),
  };
}

/**
 * pattern (keep group "value", else group 1, else the whole match) → lowercase → replace rules.
 * A value the pattern does not match is refused rather than passed through unchanged: the admin
 * wrote the pattern to say what a valid identity looks like.
 */
export function applyTextRules(value: string, rules: CompiledTextRules, what: string): string {
  let out = value;
  if (rules.pattern) {
    const m = rules.pattern.exec(value);
    if (!m) throw new AuthRefusedError(`${what} does not have the expected form`);
    out = m.groups?.value ?? m[1] ?? m[0];
  }
  if (rules.lowercase) out = out.toLowerCase();
  for (const r of rules.replace) out = out.replace(r.pattern, r.with);
  return out;
}

/** One header's value: undefined when absent or empty; refused when repeated, too long or dirty. */
export function readHeader(request: AuthRequest, name: string, maxBytes: number): string | undefined {
  const raw = request.headers[name.toLowerCase()];
  if (Array.isArray(raw) && raw.length > 1) throw new AuthRefusedError(`header ${name} was sent more than once`);
  const value = Array.isArray(raw) ? raw[0] : raw;
  if (value === undefined || value === '') return undefined;
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > maxBytes) throw new AuthRefusedError(`header ${name} is too long (${bytes} bytes, limit ${maxBytes})`);
  if (CONTROL.test(value)) throw new AuthRefusedError(`header ${name} contains control characters`);
  return value;
}

export function hasControlCharacters(value: string): boolean {
  return CONTROL.test(value);
}

export function decodeBase64(value: string, header: string): string {
  const compact = value.trim();
  if (!BASE64.test(compact)) throw new AuthRefusedError(`header ${header} is not valid base64`);
  // Node's base64 decoder also accepts the URL-safe alphabet.
  return Buffer.from(compact, 'base64').toString('utf8');
}

/** A JSON object from a header, limited to `fields` when given; arrays and scalars are refused. */
export function parseJsonObject(text: string, header: string, fields: readonly string[]): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new AuthRefusedError(`header ${header} is not valid JSON`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new AuthRefusedError(`header ${header} must hold a JSON object`);
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(parsed)) {
    if (UNSAFE_KEYS.has(k) || (fields.length > 0 && !fields.includes(k))) continue;
    out[k] = v;
  }
  return out;
}
