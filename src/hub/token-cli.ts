/** `atrium token USER`: create an API token straight in the database (for bootstrapping admins and services). */
import { dirname } from 'node:path';
import type { AtriumConfig } from './config/schema.js';
import { openStores } from './db/index.js';
import { hashToken, newToken, tokenPrefix } from './auth/crypto.js';
import { isValidScope } from './auth/scopes.js';
import { ensurePrivateDir } from './private-files.js';
import { UsageError } from '../cli-args.js';
import { userNameProblem } from '../shared/names.js';

export function createTokenOffline(dbFile: string, config: AtriumConfig, user: string, note: string, expiresInSeconds?: number, scopes: string[] = ['inherit']): string {
  const bad = scopes.filter((s) => !isValidScope(s));
  if (bad.length) throw new UsageError(`unknown scopes: ${bad.join(', ')}`);
  // The login pipeline's normalisation and rules (auth/pipeline.ts), checked before anything is
  // written: a refused name leaves no database behind.
  const name = user.normalize('NFC').toLowerCase();
  const why = userNameProblem(name) ?? (new RegExp(config.authenticator.usernamePattern, 'u').test(name) ? null : `it does not match authenticator.usernamePattern ${config.authenticator.usernamePattern}`);
  if (why) throw new UsageError(`invalid user name "${user}": ${why}`);
  if (expiresInSeconds !== undefined && !(Number.isInteger(expiresInSeconds) && expiresInSeconds > 0)) throw new UsageError(`expiry must be a whole number of seconds above 0 (got ${expiresInSeconds})`);
  // A first `atrium token` before any hub start (embedded default in a fresh folder) makes the
  // state directory as the hub would: 0700.
  ensurePrivateDir(dirname(dbFile));
  const stores = openStores(dbFile);
  // A one-shot command may wait for a lock; only the hub must never stall (storage-health.ts).
  stores.db.pragma('busy_timeout = 5000');
  try {
    const { user: row } = stores.users.ensure(name);
    const token = newToken();
    const expiresAt = expiresInSeconds !== undefined ? new Date(Date.now() + expiresInSeconds * 1000).toISOString() : null;
    stores.tokens.insert({ userId: row.id, prefix: tokenPrefix(token), hashed: hashToken(token), scopes, note, expiresAt });
    return token;
  } finally {
    stores.db.close();
  }
}
