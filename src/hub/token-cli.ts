/** `atrium token USER`: create an API token straight in the database (for bootstrapping admins and services). */
import type { AtriumConfig } from './config/schema.js';
import { openStores } from './db/index.js';
import { hashToken, newToken, tokenPrefix } from './auth/crypto.js';
import { isValidScope } from './auth/scopes.js';

export function createTokenOffline(dbFile: string, config: AtriumConfig, user: string, note: string, expiresInSeconds?: number, scopes: string[] = ['inherit']): string {
  const bad = scopes.filter((s) => !isValidScope(s));
  if (bad.length) throw new Error(`unknown scopes: ${bad.join(', ')}`);
  const stores = openStores(dbFile);
  // A one-shot command may wait for a lock; only the hub must never stall (storage-health.ts).
  stores.db.pragma('busy_timeout = 5000');
  try {
    const name = user.toLowerCase();
    if (!new RegExp(config.authenticator.usernamePattern, 'u').test(name)) throw new Error(`invalid user name: ${user}`);
    const { user: row } = stores.users.ensure(name);
    const token = newToken();
    const expiresAt = expiresInSeconds && expiresInSeconds > 0 ? new Date(Date.now() + expiresInSeconds * 1000).toISOString() : null;
    stores.tokens.insert({ userId: row.id, prefix: tokenPrefix(token), hashed: hashToken(token), scopes, note, expiresAt });
    return token;
  } finally {
    stores.db.close();
  }
}
