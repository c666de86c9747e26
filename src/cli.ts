/**
 * `atrium` command line: hub, config check, token, sshfs-driver. Exit codes: 0 ok, 1 runtime
 * failure, 2 usage or configuration error. Every subcommand answers --help; an unknown option or
 * a bad option value is refused with exit 2 before anything runs.
 */
import { parseArgs } from 'node:util';
import { join, resolve } from 'node:path';
import { loadConfig, isConfigError, parseConfig } from './hub/config/loader.js';
import type { AtriumConfig } from './hub/config/schema.js';
import { configCheck } from './hub/config/check.js';
import { VERSION } from './version.js';
import { configFileFor, isUsageError, parseExpiresIn, parseScopesOption } from './cli-args.js';

const USAGE = `atrium ${VERSION}

Usage:
  atrium hub [--config FILE] [--dev]    run the hub
  atrium config check [--strict] [FILE] validate a config file and list every problem
  atrium token [--config FILE] USER     create an API token for USER
  atrium sshfs-driver [options]         run the SSHFS Docker volume plugin (see docs/swarm.md)
  atrium images preload IMAGE... [--continuous] [--wait]
                                        pull images onto every Swarm node through the hub
                                        (also: images status, images prune; see docs/images.md)
  atrium --version

"atrium COMMAND --help" explains a command. Without --config, the file is $ATRIUM_CONFIG or
./atrium.yaml; when neither exists, the hub and token commands run on the embedded default
(the same as config/minimal.yaml).`;

const HELP: Record<string, string> = {
  hub: `Usage: atrium hub [--config FILE] [--dev]

Run the hub; it starts atrium-proxy as a child unless proxy.external is set.

  -c, --config FILE   config file (default: $ATRIUM_CONFIG, else ./atrium.yaml, else the
                      embedded default, which is config/minimal.yaml)
      --dev           development mode: Ctrl-C (SIGINT) or SIGTERM also stops every user server
                      and the child proxy (scripts/dev uses this). Without it the hub stops
                      alone and users keep working through a hub restart.
  -h, --help          this text

Signals: SIGHUP reloads the config file; SIGINT and SIGTERM stop the hub.`,
  config: `Usage: atrium config check [--strict] [FILE]

Validate a config file without starting anything and list every problem with its line.

  FILE                the file to check (default: $ATRIUM_CONFIG, else ./atrium.yaml)
      --strict        an unset \${VAR} is an error, as it is when the hub starts (without
                      --strict it is a warning naming the variable, so example files can be
                      checked on a machine that holds none of their secrets; likewise a
                      missing site file whose path is an unset \${VAR:-default})
  -h, --help          this text

Exit status: 0 valid (warnings allowed), 2 problems found.`,
  token: `Usage: atrium token [--config FILE] USER [--note TEXT] [--expires-in DURATION] [--scopes A,B]

Create an API token for USER (the user is created if missing) straight in the database and
print it. Works while the hub runs.

  -c, --config FILE        config file (as for atrium hub; it names the state directory)
      --note TEXT          note shown on the token page (default: "Requested via atrium token")
      --expires-in DURATION
                           lifetime: seconds, or a number with s, m, h or d (3600, 90m, 7d);
                           default: never expires
      --scopes A,B         scopes of the token (default: inherit, the user's own permissions)
  -h, --help               this text

Example, an idle culler's token for an admin user:
  atrium token culler --scopes list:users,read:users:activity,read:servers,delete:servers`,
};

function usageError(message: string, cmd: string): never {
  process.stderr.write(`atrium ${cmd}: ${message}\nSee "atrium ${cmd} --help".\n`);
  process.exit(2);
}

/** parseArgs with its errors (unknown option, missing value) turned into a usage error. */
function args<T extends Parameters<typeof parseArgs>[0]>(cmd: string, spec: T) {
  try {
    return parseArgs({ strict: true, ...spec });
  } catch (err) {
    usageError((err as Error).message.replace(/\. To specify a positional argument.*$/s, ''), cmd);
  }
}

/**
 * The config to run on: an explicit --config or $ATRIUM_CONFIG must exist; ./atrium.yaml is used
 * when present; otherwise the embedded default (what README.md and config/minimal.yaml promise).
 */
function loadFor(cmd: string, given: string | undefined): { config: Readonly<AtriumConfig>; file: string | null } {
  let file: string | null;
  try {
    file = configFileFor(given, process.env, process.cwd());
  } catch (err) {
    if (isUsageError(err)) usageError(err.message, cmd);
    throw err;
  }
  try {
    if (file) return { config: loadConfig(file), file };
    process.stderr.write('atrium: no atrium.yaml here and no --config: running on the embedded default (config/minimal.yaml)\n');
    return { config: parseConfig('', '(embedded default)'), file: null };
  } catch (err) {
    if (isConfigError(err)) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}

async function hub(rest: string[]): Promise<void> {
  const { values } = args('hub', { args: rest, options: { config: { type: 'string', short: 'c' }, dev: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) return void process.stdout.write(HELP.hub + '\n');
  const { config, file } = loadFor('hub', values.config as string | undefined);
  const { startHub } = await import('./hub/start.js');
  const { reloadConfig } = await import('./hub/reload.js');
  // SIGHUP reloads the config file (src/hub/reload.ts); one arriving while the hub starts is
  // noted instead of killing the process (Node's default for SIGHUP).
  let running: Awaited<ReturnType<typeof startHub>> | null = null;
  process.on('SIGHUP', () => {
    if (!running) return void process.stderr.write('atrium: SIGHUP during start ignored; send it again once the hub is up\n');
    if (!file) return void running.hub.log.warn('SIGHUP: the hub runs on the embedded default; there is no file to reload');
    try {
      reloadConfig(running.hub, file);
    } catch (err) {
      running.hub.log.error({ err }, 'config reload failed; the running config is kept');
    }
  });
  // A database that cannot be written any more ends the process (exit 1) for the supervisor.
  const h = await startHub(config, { onFatal: () => process.exit(1) });
  running = h;
  process.stdout.write(`Atrium is up: open ${h.publicUrl}${config.hub.baseUrl}hub/ (hub API at ${h.hubUrl})\n`);
  if (values.dev) process.stdout.write('Development mode: Ctrl-C stops the hub, the proxy and every user server.\n');
  // bin/atrium.js listens for this to save V8's code cache of the bundle once a start has compiled
  // what a start needs (decision 0025); nothing else does.
  (process as NodeJS.EventEmitter).emit('atrium:hub-started');
  const stop = (sig: string) => {
    if (values.dev) {
      // A second Ctrl-C during this ends the process at once (Node's default once this
      // one-shot listener is gone), leaving whatever was not stopped yet.
      process.stdout.write('Stopping user servers, the hub and the proxy (Ctrl-C again to quit at once)…\n');
      void import('./hub/dev-shutdown.js')
        .then(({ stopEverything }) => stopEverything(h, sig))
        .then(() => process.exit(0), () => process.exit(1));
      return;
    }
    h.hub.log.info({ signal: sig }, 'shutting down (user servers and the proxy keep running)');
    void h.close().then(() => process.exit(0));
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
}

function config(rest: string[]): void {
  const { values, positionals } = args('config', {
    args: rest,
    allowPositionals: true,
    options: { strict: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) return void process.stdout.write(HELP.config + '\n');
  const [sub, file, ...extra] = positionals;
  if (sub !== 'check') usageError(sub ? `unknown subcommand "${sub}" (only "check")` : 'missing subcommand "check"', 'config');
  if (extra.length) usageError(`one file at a time (got ${positionals.length - 1})`, 'config');
  const path = file ?? (process.env.ATRIUM_CONFIG || 'atrium.yaml');
  const result = configCheck(path, process.env, { strict: values.strict === true });
  (result.ok ? process.stdout : process.stderr).write(result.output + '\n');
  process.exit(result.ok ? 0 : 2);
}

async function token(rest: string[]): Promise<void> {
  const { values, positionals } = args('token', {
    args: rest,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      note: { type: 'string' },
      'expires-in': { type: 'string' },
      scopes: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return void process.stdout.write(HELP.token + '\n');
  if (positionals.length !== 1) usageError(positionals.length ? `one user at a time (got ${positionals.join(' ')})` : 'name the USER the token is for', 'token');
  let secs: number | undefined;
  let scopes: string[];
  try {
    secs = values['expires-in'] === undefined ? undefined : parseExpiresIn(values['expires-in'] as string);
    scopes = values.scopes === undefined ? ['inherit'] : parseScopesOption(values.scopes as string);
  } catch (err) {
    if (isUsageError(err)) usageError(err.message, 'token');
    throw err;
  }
  const { config: c } = loadFor('token', values.config as string | undefined);
  const { createTokenOffline } = await import('./hub/token-cli.js');
  let out: string;
  try {
    out = createTokenOffline(join(resolve(c.hub.stateDir), 'atrium.sqlite'), c, positionals[0]!, (values.note as string | undefined) ?? 'Requested via atrium token', secs, scopes);
  } catch (err) {
    if (isUsageError(err)) usageError(err.message, 'token');
    throw err;
  }
  process.stdout.write(out + '\n');
}

async function main(argv: string[]): Promise<void> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '-h' || cmd === '--help' || cmd === 'help') {
    const topic = cmd === 'help' ? rest[0] : undefined;
    return void process.stdout.write((topic && HELP[topic] ? HELP[topic] : USAGE) + '\n');
  }
  if (cmd === '--version' || cmd === '-V' || cmd === 'version') return void process.stdout.write(VERSION + '\n');
  if (cmd === 'hub') return hub(rest);
  if (cmd === 'config') return config(rest);
  if (cmd === 'token') return token(rest);
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
    try {
      await runSshfsDriver(rest);
    } catch (err) {
      // parseArgs' own errors (unknown option, missing value) are usage errors like the others.
      if (typeof (err as { code?: unknown }).code === 'string' && (err as { code: string }).code.startsWith('ERR_PARSE_ARGS')) usageError((err as Error).message, 'sshfs-driver');
      throw err;
    }
    return;
  }
  process.stderr.write(`atrium: unknown command "${cmd}"\n\n${USAGE}\n`);
  process.exit(2);
}

main(process.argv.slice(2)).catch((err) => {
  process.stderr.write(`atrium: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
