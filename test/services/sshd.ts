/**
 * A real OpenSSH server for SSHFS tests: `sshd -D -f <generated config> -p PORT` on 127.0.0.1 with
 * its own host key in a temp dir, a throw-away system user (useradd, removed in stop()) whose key
 * is authorised, and a storage directory owned by that user. Stopped by PID.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, startProcess, waitForPort, type Started } from './util.js';

export interface SshdService {
  /** The address it listens on (127.0.0.1 unless startSshd was given another). */
  host: string;
  port: number;
  user: string;
  uid: number;
  /** Folder on the "storage host" the user may write (their home). */
  storageDir: string;
  /** Private key (OpenSSH format) that logs the user in. */
  clientKey: string;
  /** The server's host public key line: "ssh-ed25519 AAAA…". */
  hostKey: string;
  /** A known_hosts file that trusts this server. */
  knownHostsFile: string;
  /** Another key pair that is not authorised, and another host key that is not this server's. */
  wrongClientKey: string;
  wrongHostKey: string;
  dir: string;
  /** sshd's log (-e). */
  output(): string;
  stop(): Promise<void>;
}

function keygen(path: string, comment: string): { priv: string; pub: string } {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', path]);
  return { priv: readFileSync(path, 'utf8'), pub: readFileSync(`${path}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' ') };
}

/** `listen`: the address to listen on (default 127.0.0.1), e.g. a netns test host's veth peer. */
export async function startSshd(listen = '127.0.0.1'): Promise<SshdService> {
  const dir = mkdtempSync(join(tmpdir(), 'atrium-sshd-'));
  chmodSync(dir, 0o755);
  const port = await freePort();
  const user = `atrs${randomBytes(3).toString('hex')}`;
  const storageDir = join(dir, 'storage');
  mkdirSync(storageDir);

  const host = keygen(join(dir, 'host_ed25519'), 'atrium-test-host');
  const client = keygen(join(dir, 'client_ed25519'), 'atrium-test-client');
  const wrongClient = keygen(join(dir, 'wrong_client_ed25519'), 'atrium-test-wrong');
  const wrongHost = keygen(join(dir, 'wrong_host_ed25519'), 'atrium-test-wrong-host');

  execFileSync('useradd', ['-M', '-d', storageDir, '-s', '/bin/sh', user]);
  // useradd leaves the password "!" (locked); sshd without PAM refuses locked accounts even for keys.
  execFileSync('usermod', ['-p', '*', user]);
  const uid = Number(execFileSync('id', ['-u', user]).toString().trim());
  chownSync(storageDir, uid, uid);
  chmodSync(storageDir, 0o755);

  const keysDir = join(dir, 'authorized_keys');
  mkdirSync(keysDir);
  writeFileSync(join(keysDir, user), `${client.pub}\n`, { mode: 0o644 });
  const knownHostsFile = join(dir, 'known_hosts');
  writeFileSync(knownHostsFile, `[${listen}]:${port} ${host.pub}\n`);

  const config = join(dir, 'sshd_config');
  writeFileSync(
    config,
    [
      `ListenAddress ${listen}`,
      `HostKey ${join(dir, 'host_ed25519')}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${keysDir}/%u`,
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      // The temp dir sits under world-writable /tmp, which StrictModes rejects; the files
      // themselves are root-owned and not writable by others.
      'StrictModes no',
      'PermitRootLogin no',
      `AllowUsers ${user}`,
      'Subsystem sftp internal-sftp',
      'LogLevel INFO',
      '',
    ].join('\n'),
  );
  mkdirSync('/run/sshd', { recursive: true }); // privilege separation directory
  const proc: Started = startProcess('/usr/sbin/sshd', ['-D', '-e', '-f', config, '-p', String(port)]);
  try {
    await waitForPort(port, listen, 15_000);
  } catch (err) {
    await proc.stop();
    throw new Error(`sshd did not start: ${String(err)}\n${proc.output()}`);
  }

  return {
    host: listen,
    port,
    user,
    uid,
    storageDir,
    clientKey: client.priv,
    hostKey: host.pub,
    knownHostsFile,
    wrongClientKey: wrongClient.priv,
    wrongHostKey: wrongHost.pub,
    dir,
    output: () => proc.output(),
    async stop() {
      await proc.stop();
      try { execFileSync('userdel', [user]); } catch { /* already gone */ }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
