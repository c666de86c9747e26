/**
 * A private multi-node Docker Swarm for preload tests, made of network namespaces.
 *
 * Why private: joining a worker to the shared test engine's swarm (test/services/docker.ts) would
 * let other test files' services be scheduled onto it while it exists; so this swarm has its own
 * manager. Each node is a dockerd in its own network namespace, started with `nsenter --net`
 * (not `ip netns exec`, which remounts /sys and hides the cgroup mounts dockerd needs) and
 * `unshare --uts` (so every node has its own hostname), with its own --data-root, --exec-root,
 * --pidfile and a Unix socket in the harness directory — the hub reaches every engine through
 * that socket, the engines reach each other over veth pairs in 192.0.2.0/24 (documentation
 * range, on those veths only). Node 0 is the manager and also runs Debian's docker-registry on
 * its address, with htpasswd auth. Everything is stopped by PID and removed by name in stop().
 */
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { startProcess, type Started } from './util.js';

const run = promisify(execFile);

export interface SwarmNodeHandle {
  index: number;
  hostname: string;
  ns: string;
  address: string;
  socket: string;
  docker(args: string[], timeoutMs?: number): Promise<string>;
}

export interface PrivateSwarm {
  dir: string;
  nodes: SwarmNodeHandle[];
  manager: SwarmNodeHandle;
  /** host:port of the registry (on the manager's address). */
  registry: string;
  registryUser: string;
  registryPassword: string;
  /** unix://…/{hostname}/docker.sock: the engine URL template for images.nodeEngineUrl. */
  engineTemplate: string;
  /** Start one more node and join it as a worker. */
  addNode(): Promise<SwarmNodeHandle>;
  /** Push a tiny image (a few MB, runs /bin/sleep) built with `docker import`, with `extraBytes` of random data. */
  pushImage(ref: string, extraBytes?: number): Promise<void>;
  stop(): Promise<void>;
}

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
}

function freeSubnet(): number {
  const used = sh('ip', ['-o', '-4', 'addr']);
  for (let i = 0; i < 200; i++) {
    const k = 1 + Math.floor(Math.random() * 62);
    if (!used.includes(`192.0.2.${4 * k + 1}/`) && !used.includes(`192.0.2.${4 * k + 2}/`)) return k;
  }
  throw new Error('no free /30 in 192.0.2.0/24');
}

/** The rootfs of the tiny image: /bin/sleep, /bin/true and the C library they need. */
function tinyRootfs(dir: string, version: string, extraBytes: number): string {
  const root = join(dir, `rootfs-${randomBytes(3).toString('hex')}`);
  for (const d of ['bin', 'lib/x86_64-linux-gnu', 'lib64', 'etc']) mkdirSync(join(root, d), { recursive: true });
  for (const f of ['/bin/sleep', '/bin/true']) writeFileSync(join(root, f), readFileSync(f), { mode: 0o755 });
  writeFileSync(join(root, 'lib/x86_64-linux-gnu/libc.so.6'), readFileSync('/lib/x86_64-linux-gnu/libc.so.6'), { mode: 0o755 });
  writeFileSync(join(root, 'lib64/ld-linux-x86-64.so.2'), readFileSync('/lib64/ld-linux-x86-64.so.2'), { mode: 0o755 });
  writeFileSync(join(root, 'etc/atrium-version'), `${version}\n`);
  if (extraBytes > 0) writeFileSync(join(root, 'etc/payload'), randomBytes(extraBytes));
  const tar = `${root}.tar`;
  sh('tar', ['-C', root, '-cf', tar, '.']);
  rmSync(root, { recursive: true, force: true });
  return tar;
}

export async function startPrivateSwarm(opts: { nodes: number; auth?: boolean }): Promise<PrivateSwarm> {
  const auth = opts.auth ?? true;
  const id = randomBytes(3).toString('hex');
  const dir = mkdtempSync(join(tmpdir(), 'atrium-swarm-'));
  chmodSync(dir, 0o755);
  const procs: Started[] = [];
  const cleanups: (() => void)[] = [];
  const nodes: SwarmNodeHandle[] = [];
  let registry = '';
  const registryUser = 'course';
  const registryPassword = randomBytes(12).toString('hex');
  const dockerConfig = join(dir, 'client');
  mkdirSync(dockerConfig);

  const removeNs = (ns: string) => () => {
    let pids = '';
    try { pids = sh('ip', ['netns', 'pids', ns]); } catch { /* none */ }
    for (const p of pids.split('\n').map(Number).filter((n) => n > 0)) {
      try { process.kill(p, 'SIGKILL'); } catch { /* gone */ }
    }
    try { execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' }); } catch { /* gone */ }
  };
  const onExit = () => { for (const c of [...cleanups].reverse()) c(); };
  process.once('exit', onExit);

  const startNode = async (index: number): Promise<SwarmNodeHandle> => {
    const ns = `atrium-s-${id}-${index}`;
    const hostname = `atrium-${id}-n${index}`;
    sh('ip', ['netns', 'add', ns]);
    cleanups.push(removeNs(ns));
    sh('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']);
    let address: string;
    if (index === 0) {
      // The manager: an address on a veth to the host namespace (nothing of the host listens there).
      const k = freeSubnet();
      const [h, n] = [`ats${id}h`, `ats${id}m`];
      sh('ip', ['link', 'add', h, 'type', 'veth', 'peer', 'name', n]);
      cleanups.push(() => { try { execFileSync('ip', ['link', 'del', h], { stdio: 'ignore' }); } catch { /* gone */ } });
      sh('ip', ['link', 'set', n, 'netns', ns]);
      sh('ip', ['addr', 'add', `192.0.2.${4 * k + 1}/30`, 'dev', h]);
      sh('ip', ['link', 'set', h, 'up']);
      address = `192.0.2.${4 * k + 2}`;
      sh('ip', ['netns', 'exec', ns, 'ip', 'addr', 'add', `${address}/30`, 'dev', n]);
      sh('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', n, 'up']);
    } else {
      // A worker: a veth pair straight to the manager's namespace, its own /30.
      const k = freeSubnet();
      const [m, w] = [`ats${id}a${index}`, `ats${id}b${index}`];
      const mgr = nodes[0]!;
      sh('ip', ['link', 'add', m, 'type', 'veth', 'peer', 'name', w]);
      sh('ip', ['link', 'set', m, 'netns', mgr.ns]);
      sh('ip', ['link', 'set', w, 'netns', ns]);
      const mAddr = `192.0.2.${4 * k + 1}`;
      address = `192.0.2.${4 * k + 2}`;
      sh('ip', ['netns', 'exec', mgr.ns, 'ip', 'addr', 'add', `${mAddr}/30`, 'dev', m]);
      sh('ip', ['netns', 'exec', mgr.ns, 'ip', 'link', 'set', m, 'up']);
      sh('ip', ['netns', 'exec', ns, 'ip', 'addr', 'add', `${address}/30`, 'dev', w]);
      sh('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', w, 'up']);
      // The registry and the swarm port live on the manager's first address.
      sh('ip', ['netns', 'exec', ns, 'ip', 'route', 'add', `${mgr.address}/32`, 'via', mAddr]);
    }
    const nd = join(dir, hostname);
    mkdirSync(nd, { recursive: true });
    const socket = join(nd, 'docker.sock');
    const insecure = index === 0 ? `${address}:5000` : registry;
    const p = startProcess('nsenter', [`--net=/var/run/netns/${ns}`, 'unshare', '--uts', 'sh', '-c',
      `hostname ${hostname} && exec dockerd --data-root ${nd}/data --exec-root ${nd}/exec --pidfile ${nd}/dockerd.pid -H unix://${socket} ` +
      `--iptables=false --ip-masq=false --bridge=none --storage-driver=overlay2 --insecure-registry ${insecure}`]);
    procs.push(p);
    const node: SwarmNodeHandle = {
      index, hostname, ns, address, socket,
      docker: async (args, timeoutMs = 120_000) =>
        (await run('docker', ['--config', dockerConfig, '-H', `unix://${socket}`, ...args], { timeout: timeoutMs, maxBuffer: 16 << 20 })).stdout.trim(),
    };
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (existsSync(socket) && (await node.docker(['version', '--format', '{{.Server.Version}}'], 5000).then(() => true, () => false))) break;
      if (p.child.exitCode !== null || Date.now() > deadline) throw new Error(`dockerd of ${hostname} did not start:\n${p.output().slice(-3000)}`);
      await sleep(300);
    }
    return node;
  };

  const stop = async () => {
    process.removeListener('exit', onExit);
    for (const n of [...nodes].reverse()) await n.docker(['swarm', 'leave', '--force'], 20_000).catch(() => undefined);
    for (const p of [...procs].reverse()) await p.stop('SIGTERM', 15_000);
    for (const c of [...cleanups].reverse()) c();
    // dockerd leaves bind mounts of namespaces (exec/netns/*) and maybe overlay mounts behind:
    // unmount everything under our directory (deepest first), then remove it.
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '')
      .filter((m) => m.startsWith(`${dir}/`)).sort((a, b) => b.length - a.length);
    for (const m of mounts) { try { execFileSync('umount', ['-l', m], { stdio: 'ignore' }); } catch { /* gone */ } }
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    const mgr = await startNode(0);
    nodes.push(mgr);
    registry = `${mgr.address}:5000`;
    await mgr.docker(['swarm', 'init', '--advertise-addr', mgr.address, '--listen-addr', `${mgr.address}:2377`]);
    // The registry, with a bcrypt htpasswd file ($2a$ and $2b$ are the same algorithm). Cost 4, not
    // the default 12: the registry checks the password on every request, and a push makes dozens.
    const py = `import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)).replace('$2b$','$2a$',1))`;
    const hash = sh('python3', ['-W', 'ignore', '-c', py, registryPassword]).trim();
    writeFileSync(join(dir, 'htpasswd'), `${registryUser}:${hash}\n`);
    writeFileSync(join(dir, 'registry.yml'), [
      'version: 0.1',
      'log: { level: warn }',
      `storage: { filesystem: { rootdirectory: ${dir}/registry }, delete: { enabled: true } }`,
      `http: { addr: "${registry}" }`,
      ...(auth ? [`auth: { htpasswd: { realm: atrium-test, path: ${dir}/htpasswd } }`] : []),
      '',
    ].join('\n'));
    const reg = startProcess('nsenter', [`--net=/var/run/netns/${mgr.ns}`, 'docker-registry', 'serve', join(dir, 'registry.yml')]);
    procs.push(reg);
    // The registry listens in the manager's namespace: probe it from there.
    const deadline = Date.now() + 20_000;
    while (!(await run('ip', ['netns', 'exec', mgr.ns, 'curl', '-s', '-o', '/dev/null', `http://${registry}/v2/`]).then(() => true, () => false))) {
      if (reg.child.exitCode !== null || Date.now() > deadline) throw new Error(`docker-registry did not start:\n${reg.output()}`);
      await sleep(200);
    }
    await mgr.docker(['login', registry, '-u', registryUser, '-p', registryPassword]);
    for (let i = 1; i < opts.nodes; i++) nodes.push(await join_(i));
  } catch (err) {
    await stop();
    throw err;
  }

  async function join_(index: number): Promise<SwarmNodeHandle> {
    const mgr = nodes[0]!;
    const n = await startNode(index);
    const token = await mgr.docker(['swarm', 'join-token', '-q', 'worker']);
    await n.docker(['swarm', 'join', '--token', token, '--advertise-addr', n.address, '--listen-addr', `${n.address}:2377`, `${mgr.address}:2377`]);
    const deadline = Date.now() + 30_000;
    while (!(await mgr.docker(['node', 'ls', '--format', '{{.Hostname}} {{.Status}}'])).includes(`${n.hostname} Ready`)) {
      if (Date.now() > deadline) throw new Error(`${n.hostname} never became Ready`);
      await sleep(300);
    }
    return n;
  }

  return {
    dir,
    nodes,
    get manager() { return nodes[0]!; },
    registry,
    registryUser,
    registryPassword,
    engineTemplate: `unix://${dir}/{hostname}/docker.sock`,
    async addNode() {
      const n = await join_(nodes.length);
      nodes.push(n);
      return n;
    },
    async pushImage(ref: string, extraBytes = 0) {
      const tar = tinyRootfs(dir, ref, extraBytes);
      const mgr = nodes[0]!;
      await mgr.docker(['import', '--change', 'CMD ["/bin/sleep", "3600"]', tar, ref]);
      await mgr.docker(['push', ref], 300_000);
      // Only the registry holds it now: the manager must pull like every other node.
      await mgr.docker(['image', 'rm', ref]);
      rmSync(tar, { force: true });
    },
    stop,
  } satisfies PrivateSwarm as PrivateSwarm;
}
