/**
 * `atrium` command line: hub, config check, token, sshfs-driver. Exit codes: 0 ok, 1 runtime
 * failure, 2 usage or configuration error.
 */
import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadConfig, isConfigError } from './hub/config/loader.js';
import { configCheck } from './hub/config/check.js';
import { VERSION } from './version.js';

const USAGE = `atrium ${VERSION}

Usage:
  atrium hub [--config FILE]            run the hub (starts atrium-proxy unless proxy.external);
                                        SIGHUP reloads the config file, SIGTERM stops the hub
  atrium config check FILE              validate a config file and list every problem
  atrium token [--config FILE] USER [--note TEXT] [--expires-in SECONDS] [--scopes A,B]
                                        create an API token for USER (created if missing);
                                        e.g. an idle culler's token for an admin user:
                                        --scopes list:users,read:users:activity,read:servers,delete:servers
  atrium sshfs-driver [options]         run the SSHFS Docker volume plugin (see docs/swarm.md)
  atrium images preload IMAGE... [--continuous] [--wait]
                                        pull images onto every Swarm node through the hub
                                        (also: images status, images prune; see docs/images.md)
  atrium --version

The config file defaults to ./atrium.yaml, or $ATRIUM_CONFIG.`;

function configPath(given: string | undefined): string {
  const p = given ?? process.env.ATRIUM_CONFIG ?? 'atrium.yaml';
  if (!existsSync(p)) {
    process.stderr.write(`atrium: config file not found: ${p}\n`);
    process.exit(2);
  }
  return p;
}

function load(path: string) {
  try {
    return loadConfig(path);
  } catch (err) {
    if (isConfigError(err)) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}

async function main(argv: string[]): Promise<void> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '-h' || cmd === '--help' || cmd === 'help') return void process.stdout.write(USAGE + '\n');
  if (cmd === '--version' || cmd === 'version') return void process.stdout.write(VERSION + '\n');

  if (cmd === 'hub') {
    const { values } = parseArgs({ args: rest, options: { config: { type: 'string', short: 'c' } } });
    const file = configPath(values.config);
    const config = load(file);
    const { startHub } = await import('./hub/start.js');
    const { reloadConfig } = await import('./hub/reload.js');
    // SIGHUP reloads the config file (src/hub/reload.ts); one arriving while the hub starts is
    // noted instead of killing the process (Node's default for SIGHUP).
    let running: Awaited<ReturnType<typeof startHub>> | null = null;
    process.on('SIGHUP', () => {
      if (!running) return void process.stderr.write('atrium: SIGHUP during start ignored; send it again once the hub is up\n');
      try {
        reloadConfig(running.hub, file);
      } catch (err) {
        running.hub.log.error({ err }, 'config reload failed; the running config is kept');
      }
    });
    // A database that cannot be written any more ends the process (exit 1) for the supervisor.
    const hub = await startHub(config, { onFatal: () => process.exit(1) });
    running = hub;
    process.stdout.write(`Atrium is up: open ${hub.publicUrl}${config.hub.baseUrl}hub/ (hub API at ${hub.hubUrl})\n`);
    const stop = (sig: string) => {
      hub.hub.log.info({ signal: sig }, 'shutting down (user servers and the proxy keep running)');
      void hub.close().then(() => process.exit(0));
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
    return;
  }

  if (cmd === 'config') {
    if (rest[0] !== 'check' || !rest[1]) {
      process.stderr.write('usage: atrium config check FILE\n');
      process.exit(2);
    }
    const result = configCheck(rest[1]);
    (result.ok ? process.stdout : process.stderr).write(result.output + '\n');
    process.exit(result.ok ? 0 : 2);
  }

  if (cmd === 'token') {
    const { values, positionals } = parseArgs({
      args: rest,
      allowPositionals: true,
      options: { config: { type: 'string', short: 'c' }, note: { type: 'string' }, 'expires-in': { type: 'string' }, scopes: { type: 'string' } },
    });
    const user = positionals[0];
    if (!user) {
      process.stderr.write('usage: atrium token [--config FILE] USER\n');
      process.exit(2);
    }
    const config = load(configPath(values.config));
    const { createTokenOffline } = await import('./hub/token-cli.js');
    const secs = values['expires-in'] ? Number(values['expires-in']) : undefined;
    const scopes = values.scopes ? values.scopes.split(',').map((x) => x.trim()).filter(Boolean) : ['inherit'];
    const token = createTokenOffline(join(resolve(config.hub.stateDir), 'atrium.sqlite'), config, user, values.note ?? 'Requested via atrium token', secs, scopes);
    process.stdout.write(token + '\n');
    return;
  }

  if (cmd === 'images') {
    const { runImagesCli, isUsageError } = await import('./hub/images/cli.js');
    try {
      process.exit(await runImagesCli(rest));
    } catch (err) {
      process.stderr.write(`atrium images: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(isUsageError(err) ? 2 : 1);
    }
  }

  if (cmd === 'sshfs-driver') {
    const { runSshfsDriver } = await import('./volumes/sshfs/main.js');
    await runSshfsDriver(rest);
    return;
  }

  process.stderr.write(`atrium: unknown command "${cmd}"\n\n${USAGE}\n`);
  process.exit(2);
}

main(process.argv.slice(2)).catch((err) => {
  process.stderr.write(`atrium: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
