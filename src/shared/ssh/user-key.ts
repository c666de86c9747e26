/**
 * A user's own SSH login from an OpenSSH private key that the authenticator or a pre-spawn hook
 * stored in the user's auth_state (encrypted at rest by the hub). Used by the SSH spawner
 * (`login: user-key`, and the key beside a certificate for `user-cert`) and by the hub's
 * login-host shell. The key is read from auth_state each time it is needed — never written into
 * server state, a log or a command line — and checked here so the user gets a sentence rather
 * than an ssh2 handshake error: missing, unreadable, protected by a passphrase (the hub has nobody
 * to ask for it), or a public key stored by mistake.
 */
// ssh2 is CommonJS and Node's ESM loader cannot see `utils` as a named export: default import.
import ssh2, { type ParsedKey } from 'ssh2';
import { userLogin, type SshLogin } from './connection-pool.js';

const { utils } = ssh2;

/** The user's private key from auth_state[key], parsed; or a message for the user. */
export function privateKeyFrom(authState: Record<string, unknown> | null, key: string): { raw: string; parsed: ParsedKey } | { error: string } {
  const raw = authState?.[key];
  if (typeof raw !== 'string' || raw.trim() === '') {
    return { error: `no SSH key for you in auth_state.${key}: this host is reached with your own key (log in again, or ask an admin how your key is provided)` };
  }
  const parsed = utils.parseKey(raw);
  const k = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!k) return { error: `the SSH key in auth_state.${key} is empty` };
  if (k instanceof Error) {
    const why = /passphrase/i.test(k.message) ? 'it has a passphrase, and keys with a passphrase cannot be used' : k.message;
    return { error: `the SSH key in auth_state.${key} cannot be read: ${why}` };
  }
  if (!k.isPrivateKey()) return { error: `auth_state.${key} holds a public key; a private key is needed` };
  return { raw, parsed: k };
}

/** A login as `account` with the key from auth_state[key]; or a message for the user. */
export function userLoginFrom(authState: Record<string, unknown> | null, key: string, account: string): { login: SshLogin } | { error: string } {
  const got = privateKeyFrom(authState, key);
  if ('error' in got) return got;
  return { login: userLogin(account, got.raw) };
}
