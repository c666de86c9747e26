/**
 * A real Docker Engine in Swarm mode for tests.
 *
 * If /var/run/docker.sock answers, that engine is used and never stopped. Otherwise the first test
 * file that needs one starts `dockerd` (overlay2, else vfs) and the last one to finish stops it by
 * PID. Files run in parallel forks, so this is coordinated through a lock directory and one
 * "user" file per fork under /tmp/atrium-test-dockerd — no vitest globalSetup is needed (and
 * vitest.config.ts is not ours). The image and the swarm state persist in /var/lib/docker, so a
 * restarted engine is ready in a few seconds and the test image is built only once.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync, closeSync } from 'node:fs';
import { resolve, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { startSshfsDriver, type RunningDriver } from '../../src/volumes/sshfs/main.js';
import { startProcess } from './util.js';

const run = promisify(execFile);
export const DOCKER_SOCKET = '/var/run/docker.sock';
export const TEST_IMAGE = 'atrium-test-notebook:1';
const COORD = '/tmp/atrium-test-dockerd';
const LOCK = join(COORD, 'lock');
const PIDFILE = join(COORD, 'dockerd.pid');
const USERS = join(COORD, 'users');

export async function docker(args: string[], timeoutMs = 120_000): Promise<string> {
  const { stdout } = await run('docker', args, { timeout: timeoutMs, maxBuffer: 16 << 20 });
  return stdout.trim();
}

async function answers(): Promise<boolean> {
  if (!existsSync(DOCKER_SOCKET)) return false;
  return docker(['version', '--format', '{{.Server.Version}}'], 5000).then(() => true, () => false);
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function withLock<T>(fn: () => Promise<T>): Promise<T> {
  mkdirSync(COORD, { recursive: true });
  const deadline = Date.now() + 180_000;
  for (;;) {
    try {
      mkdirSync(LOCK);
      writeFileSync(join(LOCK, 'owner'), String(process.pid));
      break;
    } catch {
      // A lock whose owner died is stale.
      const owner = Number(readFileSync(join(LOCK, 'owner'), 'utf8').trim() || 0);
      if (owner && !alive(owner)) rmSync(LOCK, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`docker test lock ${LOCK} held too long`);
      await sleep(200);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}

async function startDockerd(): Promise<number> {
  for (const driver of ['overlay2', 'vfs']) {
    const logFd = openSync(join(COORD, `dockerd-${driver}.log`), 'a');
    // Output to a file, not a pipe: dockerd outlives the fork that started it, and a closed pipe
    // would kill it with SIGPIPE.
    const p = startProcess('dockerd', ['--iptables=false', `--storage-driver=${driver}`], { stdio: ['ignore', logFd, logFd] });
    closeSync(logFd);
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && p.child.exitCode === null) {
      if (await answers()) {
        p.child.unref();
        return p.pid;
      }
      await sleep(250);
    }
    await p.stop();
  }
  throw new Error(`dockerd did not start with overlay2 or vfs; see ${COORD}/dockerd-*.log`);
}

export interface DockerHandle {
  socket: string;
  /** true if this test run started the engine (it is then stopped when the last user leaves). */
  startedHere: boolean;
  release(): Promise<void>;
}

/** An engine in Swarm mode with the test image present. */
export async function acquireDocker(): Promise<DockerHandle> {
  const startedHere = await withLock(async () => {
    mkdirSync(USERS, { recursive: true });
    writeFileSync(join(USERS, String(process.pid)), '');
    if (await answers()) return existsSync(PIDFILE);
    const pid = await startDockerd();
    writeFileSync(PIDFILE, String(pid));
    return true;
  });
  const state = await docker(['info', '--format', '{{.Swarm.LocalNodeState}}']);
  if (state !== 'active') {
    await withLock(async () => {
      if ((await docker(['info', '--format', '{{.Swarm.LocalNodeState}}'])) !== 'active') {
        await docker(['swarm', 'init', '--advertise-addr', '127.0.0.1']);
      }
    });
  }
  await ensureTestImage();
  return {
    socket: DOCKER_SOCKET,
    startedHere,
    release: () => releaseDocker(),
  };
}

async function releaseDocker(): Promise<void> {
  await withLock(async () => {
    rmSync(join(USERS, String(process.pid)), { force: true });
    if (!existsSync(PIDFILE)) return;
    const others = readdirSync(USERS).filter((f) => alive(Number(f)));
    if (others.length > 0) return;
    const pid = Number(readFileSync(PIDFILE, 'utf8'));
    if (pid && alive(pid)) {
      try { process.kill(-pid, 'SIGTERM'); } catch { process.kill(pid, 'SIGTERM'); }
      const deadline = Date.now() + 20_000;
      while (alive(pid) && Date.now() < deadline) await sleep(200);
      if (alive(pid)) try { process.kill(-pid, 'SIGKILL'); } catch { /* gone */ }
    }
    rmSync(PIDFILE, { force: true });
  });
}

/** Build the test image once (scripts/build-test-image.sh skips when the tag exists). */
export async function ensureTestImage(): Promise<string> {
  const present = await docker(['image', 'inspect', TEST_IMAGE]).then(() => true, () => false);
  if (!present) {
    const script = resolve(import.meta.dirname, '../../scripts/build-test-image.sh');
    await withLock(() => run(script, [TEST_IMAGE], { timeout: 900_000, maxBuffer: 64 << 20 }));
  }
  return TEST_IMAGE;
}

/**
 * Services and volumes carrying this hub label (for leak checks and cleanup). Listing volumes asks
 * every volume driver dockerd has ever seen, and one whose socket is gone (a test driver that has
 * stopped) costs ~15 s of retries — so volumes are only listed when asked for.
 */
export async function leftovers(hubId: string, withVolumes = true): Promise<{ services: string[]; volumes: string[] }> {
  const services = (await docker(['service', 'ls', '-q', '--filter', `label=atrium.hub=${hubId}`])).split('\n').filter(Boolean);
  const volumes = withVolumes
    ? (await docker(['volume', 'ls', '-q', '--filter', `label=atrium.hub=${hubId}`])).split('\n').filter(Boolean)
    : [];
  return { services, volumes };
}

export async function removeLeftovers(hubId: string, withVolumes = true): Promise<void> {
  const { services } = await leftovers(hubId, false);
  if (services.length) await docker(['service', 'rm', ...services]).catch(() => undefined);
  if (!withVolumes) return;
  const deadline = Date.now() + 30_000;
  for (;;) {
    const { volumes } = await leftovers(hubId);
    if (volumes.length === 0 || Date.now() > deadline) return;
    await docker(['volume', 'rm', ...volumes]).catch(() => undefined);
    await sleep(500);
  }
}

/**
 * Start the atrium sshfs volume driver in this process under `name` and wait until the Swarm node
 * lists it: Swarm only schedules tasks with that driver's volumes onto nodes that list the plugin,
 * and a node learns a new plugin socket only at its next description refresh (~20-30 s here; once
 * learnt the name stays listed, so later runs need not wait).
 */
export async function startTestSshfsDriver(name: string, workDir: string, knownHosts: string): Promise<RunningDriver> {
  const driver = await startSshfsDriver({
    name,
    socketDir: '/run/docker/plugins',
    stateDir: join(workDir, 'state'),
    keysDir: join(workDir, 'keys'),
    knownHosts,
    log: pino({ level: 'silent' }),
  });
  const deadline = Date.now() + 120_000;
  while (!(await docker(['node', 'inspect', 'self', '--format', '{{json .Description.Engine.Plugins}}'])).includes(`"${name}"`)) {
    if (Date.now() > deadline) {
      await driver.close();
      throw new Error(`swarm node never listed the ${name} volume plugin`);
    }
    await sleep(1000);
  }
  return driver;
}
