/**
 * Remote test hosts as network namespaces: `ip netns add atrium-t-<random>`, a veth pair with a
 * /30 from 192.0.2.0/24 (documentation range) that exists only on those two veths, loopback up
 * inside, and an sshd inside (`ip netns exec NS sshd -D`) listening on the namespace's address with
 * its own host key. A rule inside each namespace drops everything it sends out of its veth except
 * sshd's own replies, so the host cannot reach the hub (or anything else) directly.
 *
 * The namespaces share the file system, so one harness-made Unix user exists on "every host".
 * Everything is removed by name in stop() and, as a last resort, when the process exits.
 */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startProcess, waitForPort, type Started } from './util.js';

export interface TestHost {
  /** Namespace name (atrium-t-…). */
  ns: string;
  /** The host's address (inside the namespace) and the hub side's address of the veth pair. */
  address: string;
  peerAddress: string;
  port: 22;
  /** "ssh-ed25519 AAAA…" of this host's sshd. */
  hostKey: string;
  sshdPid: number;
  /** Run a command inside the namespace (as root). Blocks the event loop: nothing of this process may be needed. */
  exec(cmd: string, args: string[]): string;
  /** The same without blocking (when the command talks to servers in this process, e.g. through a tunnel). */
  run(cmd: string, args: string[]): Promise<string>;
  /** PIDs of the sshd processes serving connections (children of the listener). */
  sessionPids(): number[];
  /** Established TCP connections to sshd, counted with ss inside the namespace. */
  sshConnections(): number;
  sshdLog(): string;
  /** Let the host open TCP connections to `address`:`port` (e.g. a data server), and nothing more. */
  allowTcpTo(address: string, port: number): void;
  /** Run a command in the mount namespace of the host's sshd (where its sessions' mounts live). */
  execInSshdMounts(cmd: string, args: string[]): string;
}

export interface TestHosts {
  hosts: TestHost[];
  /** Unix user the servers run as (same on every host: shared file system). */
  user: string;
  uid: number;
  home: string;
  /** Private key file that logs in as root on every host (admin login). */
  adminKeyFile: string;
  /** OpenSSH private key (text) that logs in as `user` on every host (user-key login). */
  userKey: string;
  /** A private key no host accepts for anybody. */
  strangerKey: string;
  /** known_hosts trusting every host. */
  knownHostsFile: string;
  /** A host key that belongs to no host. */
  wrongHostKey: string;
  /** With `userCa`: the user CA's private key file (0600) every sshd trusts (TrustedUserCAKeys). */
  userCaKeyFile?: string;
  dir: string;
  stop(): Promise<void>;
}

const execFileAsync = promisify(execFile);
const live = new Set<() => void>();
let exitHook = false;

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
}

function keygen(path: string, comment: string): string {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', path]);
  return readFileSync(`${path}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' ');
}

/** A /30 in 192.0.2.0/24 that no interface on this machine uses yet. */
function freeSubnet(): number {
  const used = sh('ip', ['-o', '-4', 'addr']);
  for (let i = 0; i < 200; i++) {
    const k = 1 + Math.floor(Math.random() * 62);
    if (!used.includes(`192.0.2.${4 * k + 1}/`) && !used.includes(`192.0.2.${4 * k + 2}/`)) return k;
  }
  throw new Error('no free /30 in 192.0.2.0/24');
}

async function startHost(dir: string, index: number, adminPub: string, user: { name: string; pub: string }, userCaPub?: string): Promise<{ host: TestHost; remove: () => void; proc: Started }> {
  const id = randomBytes(3).toString('hex');
  const ns = `atrium-t-${id}`;
  const vethHub = `atr${id}h`;
  const vethHost = `atr${id}n`;
  const k = freeSubnet();
  const peerAddress = `192.0.2.${4 * k + 1}`;
  const address = `192.0.2.${4 * k + 2}`;
  const remove = () => {
    // Every process in the namespace is ours (sshd and its sessions): ended by PID.
    let pids = '';
    try { pids = sh('ip', ['netns', 'pids', ns]); } catch { /* no namespace */ }
    for (const p of pids.split('\n').map(Number).filter((n) => n > 0)) {
      try { process.kill(p, 'SIGKILL'); } catch { /* gone */ }
    }
    try { execFileSync('ip', ['link', 'del', vethHub], { stdio: 'ignore' }); } catch { /* gone with the namespace */ }
    try { execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' }); } catch { /* never made */ }
  };
  live.add(remove);
  const inNs = (cmd: string, args: string[]) => sh('ip', ['netns', 'exec', ns, cmd, ...args]);
  sh('ip', ['netns', 'add', ns]);
  sh('ip', ['link', 'add', vethHub, 'type', 'veth', 'peer', 'name', vethHost]);
  sh('ip', ['link', 'set', vethHost, 'netns', ns]);
  sh('ip', ['addr', 'add', `${peerAddress}/30`, 'dev', vethHub]);
  sh('ip', ['link', 'set', vethHub, 'up']);
  inNs('ip', ['addr', 'add', `${address}/30`, 'dev', vethHost]);
  inNs('ip', ['link', 'set', vethHost, 'up']);
  inNs('ip', ['link', 'set', 'lo', 'up']);
  // The host may answer SSH and nothing else: no direct path to the hub or anywhere.
  inNs('iptables', ['-A', 'OUTPUT', '-o', vethHost, '-p', 'tcp', '--sport', '22', '-j', 'ACCEPT']);
  inNs('iptables', ['-A', 'OUTPUT', '-o', vethHost, '-j', 'DROP']);

  const hdir = join(dir, `host${index}`);
  mkdirSync(hdir, { mode: 0o755 });
  const hostKey = keygen(join(hdir, 'host_ed25519'), `atrium-test-host-${index}`);
  const keysDir = join(hdir, 'authorized_keys');
  mkdirSync(keysDir);
  writeFileSync(join(keysDir, 'root'), `${adminPub}\n`, { mode: 0o644 });
  writeFileSync(join(keysDir, user.name), `${user.pub}\n`, { mode: 0o644 });
  const config = join(hdir, 'sshd_config');
  writeFileSync(
    config,
    [
      `ListenAddress ${address}`,
      'Port 22',
      `HostKey ${join(hdir, 'host_ed25519')}`,
      `PidFile ${join(hdir, 'sshd.pid')}`,
      // With a user CA: certificates only, as a site that adopts them would run it.
      ...(userCaPub ? [`TrustedUserCAKeys ${userCaPub}`, 'AuthorizedKeysFile none'] : [`AuthorizedKeysFile ${keysDir}/%u`]),
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      'PermitRootLogin prohibit-password',
      `AllowUsers root ${user.name}`,
      'AllowTcpForwarding yes',
      'GatewayPorts no',
      'MaxStartups 100',
      'LogLevel VERBOSE',
      '',
    ].join('\n'),
  );
  mkdirSync('/run/sshd', { recursive: true });
  const proc = startProcess('ip', ['netns', 'exec', ns, '/usr/sbin/sshd', '-D', '-e', '-f', config]);
  try {
    await waitForPort(22, address, 15_000);
  } catch (err) {
    await proc.stop();
    remove();
    throw new Error(`sshd in ${ns} did not start: ${String(err)}\n${proc.output()}`);
  }
  const host: TestHost = {
    ns,
    address,
    peerAddress,
    port: 22,
    hostKey,
    sshdPid: proc.pid,
    exec: inNs,
    run: async (cmd, args) => (await execFileAsync('ip', ['netns', 'exec', ns, cmd, ...args], { timeout: 30_000 })).stdout,
    sessionPids: () => {
      let out = '';
      try { out = sh('ps', ['-o', 'pid=', '--ppid', String(proc.pid)]); } catch { /* none */ }
      return out.split('\n').map((s) => Number(s.trim())).filter((n) => n > 0);
    },
    sshConnections: () => inNs('ss', ['-Htn', 'state', 'established', `( sport = :22 )`]).split('\n').filter((l) => l.trim()).length,
    sshdLog: () => proc.output(),
    // Inserted before the DROP: one address and port, so the hub stays unreachable.
    allowTcpTo: (to, port) => void inNs('iptables', ['-I', 'OUTPUT', '1', '-o', vethHost, '-p', 'tcp', '-d', to, '--dport', String(port), '-j', 'ACCEPT']),
    // `ip netns exec` gives every command a mount namespace of its own: sshfs mounts made by the
    // sshd's sessions are only visible in the sshd's.
    execInSshdMounts: (cmd, args) => sh('nsenter', ['-t', String(proc.pid), '-m', '-n', cmd, ...args]),
  };
  return { host, remove, proc };
}

/** `userCa`: every sshd trusts a fresh user CA (TrustedUserCAKeys) and no authorized_keys at all. */
export async function startTestHosts(count: number, opts: { userCa?: boolean } = {}): Promise<TestHosts> {
  if (!exitHook) {
    exitHook = true;
    const cleanup = () => { for (const r of [...live].reverse()) r(); live.clear(); };
    process.on('exit', cleanup);
    // A test run stopped by a signal (timeout, Ctrl-C) must not leave namespaces and users behind.
    for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => { cleanup(); process.exit(128 + (sig === 'SIGTERM' ? 15 : 2)); });
  }
  const dir = mkdtempSync(join(tmpdir(), 'atrium-netns-'));
  chmodSync(dir, 0o755);
  const adminKeyFile = join(dir, 'admin_ed25519');
  const adminPub = keygen(adminKeyFile, 'atrium-test-admin');
  const wrongHostKey = keygen(join(dir, 'wrong_host_ed25519'), 'atrium-test-wrong-host');
  const userPub = keygen(join(dir, 'user_ed25519'), 'atrium-test-user');
  keygen(join(dir, 'stranger_ed25519'), 'atrium-test-stranger');
  const userKey = readFileSync(join(dir, 'user_ed25519'), 'utf8');
  const userCaKeyFile = opts.userCa ? join(dir, 'user_ca') : undefined;
  if (userCaKeyFile) keygen(userCaKeyFile, 'atrium-test-user-ca');
  const strangerKey = readFileSync(join(dir, 'stranger_ed25519'), 'utf8');
  const user = `atrn${randomBytes(3).toString('hex')}`;
  const home = join(dir, 'home');
  const removeUser = () => {
    // Servers a failed test left running as this harness-made user, by PID.
    let pids = '';
    try { pids = sh('ps', ['-o', 'pid=', '-u', user]); } catch { /* none */ }
    for (const p of pids.split('\n').map((x) => Number(x.trim())).filter((n) => n > 0)) {
      try { process.kill(p, 'SIGKILL'); } catch { /* gone */ }
    }
    try { execFileSync('userdel', ['-f', user], { stdio: 'ignore' }); } catch { /* gone */ }
  };
  live.add(removeUser);
  execFileSync('useradd', ['-M', '-d', home, '-s', '/bin/sh', user]);
  // useradd leaves the password "!" (locked); sshd without PAM refuses locked accounts even for keys.
  execFileSync('usermod', ['-p', '*', user]);
  const uid = Number(sh('id', ['-u', user]).trim());
  mkdirSync(home, { mode: 0o700 });
  chownSync(home, uid, uid);

  const started: { host: TestHost; remove: () => void; proc: Started }[] = [];
  const stop = async () => {
    for (const s of started) {
      await s.proc.stop('SIGTERM', 3000);
      s.remove();
      live.delete(s.remove);
    }
    // Anything the user still runs would keep userdel from working; the tests stop their servers.
    removeUser();
    live.delete(removeUser);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < count; i++) started.push(await startHost(dir, i, adminPub, { name: user, pub: userPub }, userCaKeyFile && `${userCaKeyFile}.pub`));
  } catch (err) {
    await stop();
    throw err;
  }
  const knownHostsFile = join(dir, 'known_hosts');
  writeFileSync(knownHostsFile, started.map((s) => `${s.host.address} ${s.host.hostKey}\n`).join(''));
  return { hosts: started.map((s) => s.host), user, uid, home, adminKeyFile, userKey, strangerKey, knownHostsFile, wrongHostKey, userCaKeyFile, dir, stop };
}
