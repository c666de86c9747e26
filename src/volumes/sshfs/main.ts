/**
 * `atrium sshfs-driver`: the SSHFS volume driver daemon, run as root on every Swarm node.
 *
 *   atrium sshfs-driver [--name atrium-sshfs] [--socket-dir /run/docker/plugins]
 *                       [--state-dir /var/lib/atrium-sshfs] [--keys-dir /run/atrium-sshfs/keys]
 *                       [--known-hosts /etc/atrium/sshfs_known_hosts] [--sshfs /usr/bin/sshfs]
 *                       [--mount-timeout-seconds 30] [--log-level info] [--docker-socket PATH]
 *
 * Mounts stay up when the driver stops (sshfs runs detached); the next start re-adopts them.
 */
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { SshfsDriver } from './driver.js';
import { listenPlugin, type PluginServer } from './plugin-server.js';

export interface SshfsDriverOptions {
  name: string;
  socketDir: string;
  stateDir: string;
  keysDir: string;
  knownHosts: string;
  sshfsPath: string;
  mountTimeoutSeconds: number;
  /** dockerd's API socket, told about the driver at start ('' to skip). */
  dockerSocket: string;
  log: Logger;
}

export const DRIVER_DEFAULTS = {
  name: 'atrium-sshfs',
  socketDir: '/run/docker/plugins',
  stateDir: '/var/lib/atrium-sshfs',
  // /run is a tmpfs: keys never reach a disk, and vanish at reboot.
  keysDir: '/run/atrium-sshfs/keys',
  knownHosts: '/etc/atrium/sshfs_known_hosts',
  sshfsPath: '/usr/bin/sshfs',
  mountTimeoutSeconds: 30,
  dockerSocket: '/var/run/docker.sock',
};

/**
 * dockerd registers a legacy plugin socket only when something looks volume drivers up, and the
 * Swarm scheduler only places tasks needing the driver on nodes that list it ("missing plugin on
 * 1 node") — so listing volumes once makes the node advertise the driver at its next refresh.
 */
async function announce(dockerSocket: string, log: Logger): Promise<void> {
  if (!dockerSocket || !existsSync(dockerSocket)) return;
  await new Promise<void>((resolve) => {
    const req = request({ socketPath: dockerSocket, path: '/volumes', method: 'GET', timeout: 60_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve());
    });
    req.on('error', (err) => {
      log.warn({ err: err.message }, 'could not announce the driver to dockerd');
      resolve();
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

export interface RunningDriver extends PluginServer {
  driver: SshfsDriver;
}

/** Start the driver in this process (the CLI and the tests use this). */
export async function startSshfsDriver(opts: Partial<SshfsDriverOptions> & { log: Logger }): Promise<RunningDriver> {
  const o = { ...DRIVER_DEFAULTS, ...opts };
  if (!/^[a-z0-9][a-z0-9_.-]*$/.test(o.name)) throw new Error(`invalid driver name ${o.name}`);
  const driver = new SshfsDriver({
    stateDir: o.stateDir,
    keysDir: o.keysDir,
    defaultKnownHosts: o.knownHosts,
    sshfsPath: o.sshfsPath,
    mountTimeoutMs: o.mountTimeoutSeconds * 1000,
    log: o.log,
  });
  await driver.adopt();
  const server = await listenPlugin(driver, join(o.socketDir, `${o.name}.sock`), o.log);
  o.log.info({ socket: server.socketPath, stateDir: o.stateDir }, 'atrium sshfs volume driver listening');
  await announce(o.dockerSocket, o.log);
  return { ...server, driver };
}

export async function runSshfsDriver(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      name: { type: 'string' },
      'socket-dir': { type: 'string' },
      'state-dir': { type: 'string' },
      'keys-dir': { type: 'string' },
      'known-hosts': { type: 'string' },
      sshfs: { type: 'string' },
      'mount-timeout-seconds': { type: 'string' },
      'log-level': { type: 'string' },
      'docker-socket': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(
      'atrium sshfs-driver [--name atrium-sshfs] [--socket-dir DIR] [--state-dir DIR] [--keys-dir DIR]\n' +
        '                    [--known-hosts FILE] [--sshfs PATH] [--mount-timeout-seconds N] [--log-level info]\n' +
        '                    [--docker-socket /var/run/docker.sock]\n',
    );
    return;
  }
  const log = pino({ level: values['log-level'] ?? 'info' });
  if (process.getuid?.() !== 0) log.warn('the sshfs driver normally runs as root (it mounts for dockerd)');
  const timeout = values['mount-timeout-seconds'] ? Number(values['mount-timeout-seconds']) : DRIVER_DEFAULTS.mountTimeoutSeconds;
  if (!Number.isFinite(timeout) || timeout <= 0) throw new Error('--mount-timeout-seconds must be a positive number');
  const running = await startSshfsDriver({
    name: values.name,
    socketDir: values['socket-dir'],
    stateDir: values['state-dir'],
    keysDir: values['keys-dir'],
    knownHosts: values['known-hosts'],
    sshfsPath: values.sshfs,
    mountTimeoutSeconds: timeout,
    dockerSocket: values['docker-socket'],
    log,
  });
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'stopping; sshfs mounts stay up and are re-adopted at the next start');
      void running.close().then(resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
