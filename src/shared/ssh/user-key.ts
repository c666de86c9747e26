/**
 * A user's own SSH login from a private key held in auth_state (encrypted at rest by the hub),
 * for callers outside the SSH spawner (the hub's login-host shell). The key is checked here so
 * the user gets a sentence rather than an ssh2 handshake error: missing, unreadable, protected by
 * a passphrase (the hub has nobody to ask for it), or a public key stored by mistake.
 */
import { utils } from 'ssh2';
import { userLogin, type SshLogin } from './connection-pool.js';

export function loginWithAuthStateKey(authState: Record<string, unknown> | null, key: string, account: string): { login: SshLogin } | { error: string } {
  const raw = authState?.[key];
  if (typeof raw !== 'string' || raw.trim() === '') {
    return { error: `there is no SSH key for you in auth_state.${key}; this host is reached with your own key (log in again, or ask an admin how your key is provided)` };
  }
  const parsed = utils.parseKey(raw);
  const k = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!k) return { error: `the SSH key in auth_state.${key} is empty` };
  if (k instanceof Error) {
    const why = /passphrase/i.test(k.message) ? 'it has a passphrase, and keys with a passphrase cannot be used' : k.message;
    return { error: `the SSH key in auth_state.${key} cannot be read: ${why}` };
  }
  if (!k.isPrivateKey()) return { error: `auth_state.${key} holds a public key; a private key is needed` };
  return { login: userLogin(account, raw) };
}
