/**
 * user-cert login (decision 0019): the hub logs in to the host as the user with an OpenSSH
 * certificate, from one of two sources.
 *
 * - auth-state: the authenticator or front proxy stored the user's private key and its
 *   certificate in auth_state. Both are checked before any connection (validity window,
 *   principal = the account on the host, the certificate belongs to that key), and again at each
 *   (re)connection, so an expired certificate gets a clear message instead of sshd's bare refusal.
 * - hub-ca: the hub holds a CA key and signs, per connection, a certificate valid for minutes for
 *   a fresh ed25519 key that never leaves the hub process. Sites add the CA's public key to
 *   sshd's TrustedUserCAKeys and need no per-user key anywhere. Each server gets its own
 *   connection, so the key id names the Atrium user and server (sshd logs it at every login).
 */
import { createHash } from 'node:crypto';
// ssh2 is CommonJS and Node's ESM loader cannot see `utils` as a named export: default import.
import ssh2 from 'ssh2';
import { HostUnavailable, type SshLogin } from '../../shared/ssh/connection-pool.js';
import { certificateProblem, certifiedKey, freshKey, parseCertificate, signUserCertificate, type SshCertificate } from './certificate.js';
import { readCaKey } from './cert-support.js';
import type { SshSpawnerOptions } from './options.js';
import { privateKeyFrom } from '../../shared/ssh/user-key.js';

const { utils } = ssh2;

const REFUSED_FROM_AUTH_STATE = 'the host did not accept the certificate from your login: its sshd must trust the CA that signed it (TrustedUserCAKeys)';
const REFUSED_HUB_CA = "the host did not accept the hub's certificate: add the public half of the hub's CA key to TrustedUserCAKeys in its sshd_config";

/** The certificate from auth_state, checked for `remoteUser`; or a message for the spawn page. */
export function authStateCertLogin(authState: Record<string, unknown> | null, options: SshSpawnerOptions, remoteUser: string): { login: SshLogin } | { error: string } {
  const key = privateKeyFrom(authState, options.userKeyAuthStateKey);
  if ('error' in key) return key;
  const field = options.userCert.authStateKey;
  const raw = authState?.[field];
  if (typeof raw !== 'string' || raw.trim() === '') {
    return { error: `no SSH certificate for you in auth_state.${field}: this hub logs in to its SSH hosts with your certificate (log in again, or ask an admin how it is provided)` };
  }
  let cert: SshCertificate;
  try {
    cert = parseCertificate(raw);
  } catch (err) {
    return { error: `the SSH certificate in auth_state.${field} cannot be read: ${(err as Error).message}` };
  }
  const check = () => certificateProblem(cert, { principal: remoteUser, publicKey: key.parsed.getPublicSSH() });
  const problem = check();
  if (problem) return { error: `Your SSH certificate cannot be used: ${problem}` };
  return {
    login: {
      username: remoteUser,
      id: `cert:${createHash('sha256').update(key.raw).update(raw).digest('hex').slice(0, 16)}`,
      perUser: true,
      refusedHint: REFUSED_FROM_AUTH_STATE,
      key: () => {
        // A reconnect hours later: the certificate may have expired meanwhile.
        const now = check();
        if (now) throw new HostUnavailable(`your SSH certificate cannot be used: ${now}`);
        return certifiedKey(key.parsed, cert);
      },
    },
  };
}

/** Why the hub cannot sign certificates now (CA key file unreadable, too open, unusable), or null. */
export function hubCaProblem(options: SshSpawnerOptions): string | null {
  const ca = readCaKey(options.userCert.caKeyFile);
  return 'error' in ca ? ca.error : null;
}

/** The hub-signed login of `hubUser`'s server `serverName`, as `remoteUser`; one certificate per connection. */
export function hubCaCertLogin(options: SshSpawnerOptions, hubUser: string, serverName: string, remoteUser: string): SshLogin {
  const { caKeyFile, lifetimeSeconds, backdateSeconds } = options.userCert;
  const server = serverName || 'default';
  return {
    username: remoteUser,
    // One connection per server: the certificate's key id names the server it was signed for.
    id: `hub-ca:${caKeyFile}:${hubUser}/${server}`,
    perUser: true,
    refusedHint: REFUSED_HUB_CA,
    key: () => {
      const ca = readCaKey(caKeyFile);
      if ('error' in ca) throw new HostUnavailable(`the hub cannot sign your SSH certificate: ${ca.error}`);
      const fresh = freshKey(utils).key;
      const now = BigInt(Math.floor(Date.now() / 1000));
      const blob = signUserCertificate(ca.key, {
        publicKey: fresh.getPublicSSH(),
        keyId: `atrium user=${hubUser} server=${server}`,
        principals: [remoteUser],
        validAfter: now - BigInt(backdateSeconds),
        validBefore: now + BigInt(lifetimeSeconds),
      });
      return certifiedKey(fresh, parseCertificate(blob));
    },
  };
}

/** The user-cert login for a start or a restore, by source; or a message for the spawn page. */
export function certLoginFor(options: SshSpawnerOptions, authState: Record<string, unknown> | null, hubUser: string, serverName: string, remoteUser: string): { login: SshLogin } | { error: string } {
  if (options.userCert.source === 'auth-state') return authStateCertLogin(authState, options, remoteUser);
  const problem = hubCaProblem(options);
  if (problem) return { error: `The hub cannot sign an SSH certificate for you: ${problem}` };
  return { login: hubCaCertLogin(options, hubUser, serverName, remoteUser) };
}
