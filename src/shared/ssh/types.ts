/**
 * What the shared SSH connection code (connection-pool.ts, host-keys.ts) needs to know about a
 * host and about connecting, as plain shapes: the SSH spawner's config block and the hub's
 * login-host shell both satisfy them, and neither has to import the other.
 */

/** One host and how its key is checked (host-keys.ts). */
export interface SshHost {
  name: string;
  address: string;
  port: number;
  /** Pinned public keys ("ssh-ed25519 AAAA…"); when non-empty, no known_hosts file is read. */
  hostKeys: string[];
  /** known_hosts file for this host (default: SshConnectionOptions.knownHostsFile). */
  knownHostsFile?: string;
  /** INSECURE opt-in: accept any key of this host (logged at every connection). */
  acceptUnknownHostKey: boolean;
}

/** Connection settings shared by every host a caller connects to. */
export interface SshConnectionOptions {
  knownHostsFile: string;
  /** The admin login (admin-sudo): user and private key file. */
  adminUser: string;
  adminKeyFile: string;
  connectTimeoutSeconds: number;
  keepaliveIntervalSeconds: number;
  keepaliveCountMax: number;
  reconnectMaxBackoffSeconds: number;
  /** A per-user connection with nothing on it is closed after this long. */
  userIdleCloseSeconds: number;
}
