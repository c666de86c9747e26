/**
 * Volume options of the atrium sshfs driver. The names of docker-volume-sshfs are accepted
 * (sshcmd, port, password, IdentityFile, and the forks' id_rsa key content), so sites switching from
 * that plugin keep their volume definitions. Unlike that plugin, options are not passed to sshfs
 * blindly: sshfs runs as root on every node, and options such as ssh_command or ProxyCommand would
 * run commands there.
 */
import { atriumError } from '../../shared/errors.js';

export interface SshfsVolumeSpec {
  user: string;
  host: string;
  remotePath: string;
  port: number;
  /** Exactly one of these authenticates. */
  keyContent?: string;
  identityFile?: string;
  password?: string;
  /** Pinned host key ("ssh-ed25519 AAAA…"), checked instead of the known_hosts file. */
  hostKey?: string;
  /** known_hosts file on the node; default: the driver's --known-hosts. */
  knownHostsFile?: string;
  /** Explicit opt-out of host key checking (logged as a warning at every mount). */
  insecureIgnoreHostKey: boolean;
  /** Extra sshfs -o options from the allowlist. */
  extra: string[];
}

/** sshfs/ssh options that only change caching, ownership or keep-alive behaviour. */
const PASSTHROUGH = new Set([
  'reconnect', 'uid', 'gid', 'umask', 'idmap', 'follow_symlinks', 'transform_symlinks', 'cache', 'cache_timeout',
  'dir_cache', 'kernel_cache', 'compression', 'Compression', 'ServerAliveInterval', 'ServerAliveCountMax',
  'ConnectTimeout', 'default_permissions', 'workaround', 'max_conns', 'noatime', 'ro', 'Ciphers',
]);

const truthy = (v: string | undefined) => v !== undefined && /^(1|true|yes|on)$/i.test(v);

/** Keys arrive from portals with "\n" escaped or the trailing newline lost; ssh refuses those. */
export function normaliseKey(key: string): string {
  let k = key.trim();
  if (!k.includes('\n') && k.includes('\\n')) k = k.replaceAll('\\n', '\n');
  return `${k}\n`;
}

export function parseVolumeOptions(opts: Record<string, string>): SshfsVolumeSpec {
  const o = { ...opts };
  const take = (...names: string[]) => {
    for (const n of names) {
      if (o[n] !== undefined) {
        const v = o[n]!;
        delete o[n];
        return v;
      }
    }
    return undefined;
  };

  const sshcmd = take('sshcmd');
  if (!sshcmd) throw atriumError('ATRIUM_ERR_VOLUME_BAD_OPTIONS', "sshfs: the 'sshcmd' option (user@host:/path) is required");
  const m = /^([^@\s]+)@(\[[^\]]+\]|[^:\s]+):(.*)$/.exec(sshcmd);
  if (!m) throw atriumError('ATRIUM_ERR_VOLUME_BAD_OPTIONS', `sshfs: sshcmd "${sshcmd}" is not user@host:/path`);
  const [, user, rawHost, rawPath] = m;
  const host = rawHost!.replace(/^\[|\]$/g, '');

  const portText = take('port', 'Port');
  const port = portText === undefined || portText === '' ? 22 : Number(portText);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw atriumError('ATRIUM_ERR_VOLUME_BAD_OPTIONS', `sshfs: port "${portText}" is not a TCP port`);

  const keyContent = take('id_rsa', 'private_key', 'identity');
  const identityFile = take('IdentityFile', 'identity_file');
  const password = take('password');
  const auths = [keyContent, identityFile, password].filter((v) => v !== undefined && v !== '');
  if (auths.length === 0) throw atriumError('ATRIUM_ERR_VOLUME_BAD_OPTIONS', "sshfs: one of 'id_rsa' (key content), 'IdentityFile' or 'password' is required");
  if (auths.length > 1) throw atriumError('ATRIUM_ERR_VOLUME_BAD_OPTIONS', "sshfs: give only one of 'id_rsa', 'IdentityFile' and 'password'");
  if (identityFile !== undefined && !identityFile.startsWith('/')) throw atriumError('ATRIUM_ERR_VOLUME_BAD_OPTIONS', 'sshfs: IdentityFile must be an absolute path on the node');

  const hostKey = take('host_key', 'hostkey');
  if (hostKey !== undefined && !/^(ssh-|ecdsa-|sk-)\S+ [A-Za-z0-9+/=]+/.test(hostKey.trim())) {
    throw atriumError('ATRIUM_ERR_VOLUME_BAD_OPTIONS', 'sshfs: host_key must be a public key line like "ssh-ed25519 AAAA…"');
  }
  const knownHostsFile = take('known_hosts', 'UserKnownHostsFile');
  if (knownHostsFile !== undefined && !knownHostsFile.startsWith('/')) throw atriumError('ATRIUM_ERR_VOLUME_BAD_OPTIONS', 'sshfs: known_hosts must be an absolute path on the node');
  const strict = take('StrictHostKeyChecking');
  const insecure = truthy(take('insecure_ignore_host_key')) || (strict !== undefined && /^(no|off|accept-new)$/i.test(strict));

  const extra: string[] = [];
  for (const [k, v] of Object.entries(o)) {
    if (!PASSTHROUGH.has(k)) throw atriumError('ATRIUM_ERR_VOLUME_BAD_OPTIONS', `sshfs: option '${k}' is not supported (allowed: ${[...PASSTHROUGH].join(', ')})`);
    if (/[,\s]/.test(v) || /[,\s]/.test(k)) throw atriumError('ATRIUM_ERR_VOLUME_BAD_OPTIONS', `sshfs: option '${k}' has an invalid value`);
    extra.push(v === '' ? k : `${k}=${v}`);
  }

  return {
    user: user!,
    host,
    remotePath: rawPath === '' ? '.' : rawPath!,
    port,
    keyContent: keyContent ? normaliseKey(keyContent) : undefined,
    identityFile,
    password,
    hostKey: hostKey?.trim(),
    knownHostsFile,
    insecureIgnoreHostKey: insecure,
    extra,
  };
}

/** For logs: never the secret. */
export function describeSpec(s: SshfsVolumeSpec): string {
  const auth = s.keyContent ? 'key' : s.identityFile ? `IdentityFile ${s.identityFile}` : 'password';
  return `${s.user}@${s.host}:${s.remotePath} port ${s.port} (${auth})`;
}
