/**
 * user-key login: the hub logs in to the host as the user, with an OpenSSH private key the
 * authenticator or a pre-spawn hook stored in the user's auth_state (encrypted at rest by the
 * hub). The key is read from auth_state at each start and, after a hub restart, at restore — it
 * is never written into the server state, a log or a command line. Keys with a passphrase cannot
 * be used (the hub has nobody to ask).
 */
import { utils, type ParsedKey } from 'ssh2';
import { userLogin, type SshLogin } from '../../shared/ssh/connection-pool.js';

/** The user's private key from auth_state[key], parsed; or a message for the spawn page. */
export function privateKeyFrom(authState: Record<string, unknown> | null, key: string): { raw: string; parsed: ParsedKey } | { error: string } {
  const raw = authState?.[key];
  if (typeof raw !== 'string' || raw.trim() === '') {
    return { error: `no SSH key for you in auth_state.${key}: this hub logs in to its SSH hosts with your own key (log in again, or ask an admin how your key is provided)` };
  }
  const parsed = utils.parseKey(raw);
  const k = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!k || k instanceof Error) return { error: `the SSH key in auth_state.${key} cannot be read (${k instanceof Error ? k.message.replace(/passphrase/i, 'passphrase; keys with a passphrase cannot be used') : 'empty'})` };
  if (!k.isPrivateKey()) return { error: `auth_state.${key} holds a public key; the hub needs the private key` };
  return { raw, parsed: k };
}

export function userLoginFrom(authState: Record<string, unknown> | null, key: string, remoteUser: string): { login: SshLogin } | { error: string } {
  const got = privateKeyFrom(authState, key);
  if ('error' in got) return got;
  return { login: userLogin(remoteUser, got.raw) };
}
