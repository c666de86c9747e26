/** Reading a user's stored auth state (AES-256-GCM, see crypto.ts); never fatal for the caller. */
import type { Logger } from 'pino';
import type { AuthStateCipher } from './crypto.js';
import type { UserRow } from '../db/index.js';

export function readAuthState(hub: { cipher: AuthStateCipher; log: Logger }, user: Pick<UserRow, 'name' | 'auth_state'>): Record<string, unknown> | null {
  if (!user.auth_state) return null;
  try {
    return hub.cipher.decrypt(user.auth_state) as Record<string, unknown>;
  } catch (err) {
    hub.log.warn({ user: user.name, err: (err as Error).message }, 'auth_state could not be decrypted; treating it as empty');
    return null;
  }
}
