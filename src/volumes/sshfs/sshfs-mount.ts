/**
 * Running sshfs and reading /proc/mounts. sshfs daemonises once the mount is up, so the mount
 * survives a restart of the driver; its stderr goes to a file because the ssh child keeps the
 * descriptor open for the life of the mount (a pipe would never close, and writing to a dead one
 * would kill ssh).
 */
import { execFile, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { SshfsVolumeSpec } from './volume-options.js';
import { atriumError } from '../../shared/errors.js';

const run = promisify(execFile);

export interface MountFiles {
  /** Private key file (0600) when the key came as content. */
  keyFile?: string;
  /** known_hosts file holding the pinned key. */
  pinnedKnownHosts?: string;
  /** Where sshfs writes its errors. */
  logFile: string;
}

/** The sshfs command line (without secrets: keys go through a file, passwords through stdin). */
export function sshfsArgs(spec: SshfsVolumeSpec, mountpoint: string, files: MountFiles, defaultKnownHosts: string): string[] {
  const o: string[] = [
    // Containers run as arbitrary uids; the remote side's permissions are those of the ssh user.
    'allow_other',
    'reconnect',
    'ServerAliveInterval=15',
    'ServerAliveCountMax=3',
    'ConnectTimeout=15',
  ];
  if (spec.insecureIgnoreHostKey) {
    o.push('StrictHostKeyChecking=no', 'UserKnownHostsFile=/dev/null');
  } else if (files.pinnedKnownHosts) {
    // A fixed alias lets one known_hosts line match whatever host:port the volume names.
    o.push('StrictHostKeyChecking=yes', `UserKnownHostsFile=${files.pinnedKnownHosts}`, 'GlobalKnownHostsFile=/dev/null', 'HostKeyAlias=atrium-pinned');
  } else {
    o.push('StrictHostKeyChecking=yes', `UserKnownHostsFile=${spec.knownHostsFile ?? defaultKnownHosts}`);
  }
  if (spec.password !== undefined) {
    o.push('password_stdin', 'PreferredAuthentications=password,keyboard-interactive', 'PubkeyAuthentication=no');
  } else {
    // BatchMode: never wait for a prompt that nobody will answer.
    o.push(`IdentityFile=${files.keyFile ?? spec.identityFile}`, 'IdentitiesOnly=yes', 'BatchMode=yes', 'PasswordAuthentication=no');
  }
  o.push(...spec.extra);
  return [`${spec.user}@${spec.host.includes(':') ? `[${spec.host}]` : spec.host}:${spec.remotePath}`, mountpoint, '-p', String(spec.port), '-o', o.join(',')];
}

/** A message for Docker's {"Err"}: what went wrong, where, without ssh's noise. */
export function explainFailure(spec: SshfsVolumeSpec, stderr: string, code: number | null): string {
  const where = `${spec.host}:${spec.port}`;
  if (/Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|No \S+ host key is known/i.test(stderr)) {
    return `sshfs: host key verification failed for ${where}`;
  }
  if (/Permission denied|Too many authentication failures/i.test(stderr)) return `sshfs: authentication failed for ${spec.user}@${where}`;
  if (/Connection refused/i.test(stderr)) return `sshfs: connection refused by ${where}`;
  if (/timed out|No route to host|Could not resolve|Name or service not known/i.test(stderr)) return `sshfs: cannot reach ${where}`;
  if (/No such file or directory/i.test(stderr) && !/fuse|mountpoint/i.test(stderr)) {
    return `sshfs: remote folder ${spec.remotePath} does not exist on ${spec.host}`;
  }
  if (/Load key|invalid format|bad permissions/i.test(stderr)) return `sshfs: the private key for ${spec.user}@${where} is not usable`;
  const last = stderr.trim().split('\n').filter(Boolean).pop();
  return `sshfs: mount of ${spec.user}@${where}:${spec.remotePath} failed${last ? `: ${last}` : code !== null ? ` (exit ${code})` : ''}`;
}

export async function runSshfs(args: {
  sshfsPath: string;
  spec: SshfsVolumeSpec;
  mountpoint: string;
  files: MountFiles;
  defaultKnownHosts: string;
  timeoutMs: number;
}): Promise<void> {
  const { spec, files, mountpoint } = args;
  rmSync(files.logFile, { force: true });
  const logFd = openSync(files.logFile, 'w', 0o600);
  const argv = sshfsArgs(spec, mountpoint, files, args.defaultKnownHosts);
  // Foreground (-f): a daemonising sshfs sends ssh's stderr to /dev/null, and with it the reason
  // of every failure ("Host key verification failed."). Detached, so it outlives the driver.
  const child = spawn(args.sshfsPath, ['-f', ...argv], { stdio: ['pipe', logFd, logFd], detached: true });
  closeSync(logFd);
  child.stdin?.end(spec.password !== undefined ? `${spec.password}\n` : '');
  let exitCode: number | null | undefined;
  child.once('error', () => { exitCode = -1; });
  child.once('exit', (c) => { exitCode = c; });
  const deadline = Date.now() + args.timeoutMs;
  while (exitCode === undefined && Date.now() < deadline) {
    // In the foreground sshfs mounts before its ssh connection is checked, so the mount only
    // counts once the remote folder can be listed.
    if (await isMounted(mountpoint)) {
      const ok = await readdir(mountpoint).then(() => true, () => false);
      if (ok && exitCode === undefined) {
        child.unref();
        return;
      }
      // Give sshfs a moment to exit with its reason written.
      for (let i = 0; i < 40 && exitCode === undefined; i++) await sleep(50);
      if (exitCode === undefined) continue;
      break;
    }
    await sleep(50);
  }
  const timedOut = exitCode === undefined;
  if (timedOut) {
    try { process.kill(-child.pid!, 'SIGKILL'); } catch { child.kill('SIGKILL'); }
    await unmount(mountpoint).catch(() => undefined);
  }
  let stderr = '';
  try { stderr = readFileSync(files.logFile, 'utf8'); } catch { /* none */ }
  if (timedOut) stderr += '\nConnection timed out';
  throw atriumError('ATRIUM_ERR_VOLUME_MOUNT', explainFailure(spec, stderr, exitCode ?? null), { detail: stderr.slice(-2000) });
}

/** /proc/mounts escapes spaces and the like as octal (\040). */
function unescapeMountPath(p: string): string {
  return p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export function fuseSshfsMounts(): Set<string> {
  const out = new Set<string>();
  let text = '';
  try { text = readFileSync('/proc/mounts', 'utf8'); } catch { return out; }
  for (const line of text.split('\n')) {
    const [, mp, type] = line.split(' ');
    if (mp && type === 'fuse.sshfs') out.add(unescapeMountPath(mp));
  }
  return out;
}

export async function isMounted(mountpoint: string): Promise<boolean> {
  return fuseSshfsMounts().has(mountpoint);
}

/** A mount whose sshfs died answers stat() with ENOTCONN; that one must be remounted. */
export async function isHealthy(mountpoint: string, timeoutMs = 5000): Promise<boolean> {
  const probe = stat(mountpoint).then(() => true, () => false);
  const timeout = new Promise<boolean>((r) => setTimeout(() => r(false), timeoutMs).unref());
  return Promise.race([probe, timeout]);
}

export async function unmount(mountpoint: string): Promise<void> {
  if (!(await isMounted(mountpoint))) return;
  try {
    await run('umount', [mountpoint], { timeout: 15_000 });
  } catch {
    // Busy or dead: detach now, the kernel finishes once the last user is gone.
    await run('umount', ['-l', mountpoint], { timeout: 15_000 });
  }
}
