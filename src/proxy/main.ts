/**
 * atrium-proxy entry point: flags → options → listeners. Survives stray exceptions (logged),
 * exits on SIGINT/SIGTERM.
 */
import { unlinkSync, writeFileSync } from 'node:fs';
import { pino } from 'pino';
import { parseArgs, USAGE, type ParsedArgs } from './options.js';
import cluster from 'node:cluster';
import { startProxy } from './server.js';
import { startPrimary, startWorker } from './cluster.js';

export async function main(argv: string[] = process.argv.slice(2)): Promise<void> {
  let parsed: ParsedArgs;
  try {
    parsed = parseArgs(argv);
  } catch (err) {
    process.stderr.write(`atrium-proxy: ${(err as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (parsed.help) {
    process.stdout.write(USAGE);
    return;
  }
  const { options } = parsed;
  // When the parent that owns our stdout goes away (a hub restart), writes fail with EPIPE; the
  // proxy must keep serving, so log-write errors are dropped rather than thrown.
  const dest = pino.destination({ fd: 1, sync: true });
  dest.on('error', () => undefined);
  process.stdout.on('error', () => undefined);
  const log = pino({ name: 'atrium-proxy', level: options.logLevel }, dest);
  for (const w of parsed.warnings) log.warn(w);

  // One bad request or a bug in a rarely used path must not take every user's traffic down.
  process.on('uncaughtException', (err) => log.error({ err }, 'uncaught exception'));
  process.on('unhandledRejection', (err) => log.error({ err }, 'unhandled rejection'));

  if (options.workers > 1 && cluster.isWorker) {
    // A worker serves traffic only; the primary owns the API, the PID file and the signals' meaning.
    const worker = await startWorker(options, log.child({ worker: cluster.worker?.id }));
    const stop = () => void worker.close().finally(() => process.exit(0));
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    return;
  }
  let proxy;
  try {
    proxy = options.workers > 1 ? await startPrimary(options, log) : await startProxy(options, log);
  } catch (err) {
    log.fatal({ err }, 'could not start');
    process.exit(1);
  }
  if (options.pidFile) {
    writeFileSync(options.pidFile, String(process.pid));
  }
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    if (options.pidFile) {
      try { unlinkSync(options.pidFile); } catch { /* already gone */ }
    }
    const force = setTimeout(() => process.exit(0), 2000);
    force.unref();
    proxy.close().finally(() => process.exit(0));
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

await main();
