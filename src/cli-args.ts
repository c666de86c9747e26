/**
 * Option values of the `atrium` command line, checked before anything runs: a value that cannot
 * be read is refused with a message, never replaced by a default (`--expires-in abc` once made a
 * token that never expired).
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { DURATION_PATTERN, parseDuration } from './shared/units.js';
import { isValidScope } from './hub/auth/scopes.js';

/** A mistake in how the command was called: exit 2 with the message and a pointer to --help. */
export class UsageError extends Error {
  readonly usage = true;
}

export function isUsageError(err: unknown): err is UsageError {
  return typeof err === 'object' && err !== null && (err as { usage?: unknown }).usage === true;
}

/** Seconds from `--expires-in`: 3600, 90m, 12h, 7d. At least one second; whole seconds. */
export function parseExpiresIn(text: string): number {
  if (!new RegExp(DURATION_PATTERN).test(text)) throw new UsageError(`--expires-in: "${text}" is not a duration (examples: 3600, 90m, 12h, 7d)`);
  const secs = Math.round(parseDuration(text));
  if (secs < 1) throw new UsageError(`--expires-in: "${text}" is less than one second; leave the option out for a token that never expires`);
  // Beyond this a Date overflows; nobody means a token for 100 years.
  if (secs > 100 * 365 * 86400) throw new UsageError(`--expires-in: "${text}" is more than 100 years; leave the option out for a token that never expires`);
  return secs;
}

/** `--scopes a,b`: a non-empty list of known scopes. */
export function parseScopesOption(text: string): string[] {
  const scopes = text.split(',').map((s) => s.trim()).filter(Boolean);
  if (scopes.length === 0) throw new UsageError('--scopes: list at least one scope (e.g. --scopes read:users,read:servers), or leave it out for "inherit"');
  const bad = scopes.filter((s) => !isValidScope(s));
  if (bad.length) throw new UsageError(`--scopes: unknown scope${bad.length > 1 ? 's' : ''} ${bad.map((s) => `"${s}"`).join(', ')}`);
  return scopes;
}

/**
 * Which config file a command runs on: an explicit --config or $ATRIUM_CONFIG must exist;
 * ./atrium.yaml is used when present; otherwise null, the embedded default (what README.md and
 * config/minimal.yaml promise). An empty $ATRIUM_CONFIG counts as unset.
 */
export function configFileFor(given: string | undefined, env: NodeJS.ProcessEnv, cwd: string): string | null {
  const fromEnv = env.ATRIUM_CONFIG || undefined;
  const explicit = given ?? fromEnv;
  if (explicit !== undefined) {
    if (!existsSync(resolve(cwd, explicit))) throw new UsageError(`config file not found: ${explicit}${given !== undefined ? '' : ' (from $ATRIUM_CONFIG)'}`);
    return explicit;
  }
  return existsSync(resolve(cwd, 'atrium.yaml')) ? 'atrium.yaml' : null;
}
