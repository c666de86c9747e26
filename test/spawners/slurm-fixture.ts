/**
 * Shared pieces of the Slurm spawner tests: one real Slurm per test file, spawner options for it,
 * and a report relay — the hub's POST /hub/api/batchspawner reduced to what a spawner test needs
 * (token → the spawner that started with it → report()). Spawner tests have no hub; the hub-level
 * test drives the real endpoint.
 */
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { slurmSpawnerKind, SlurmSpawnerOptions } from '../../src/spawners/slurm/index.js';
import type { SpawnContext, Spawner, SpawnerKind } from '../../src/spawners/spawner.js';
import { freePort } from '../services/util.js';
import type { Slurm } from '../services/slurm.js';

export const STUB = resolve(import.meta.dirname, '../fixtures/stub-singleuser.mjs');

export function slurmOptions(slurm: Slurm, home: string, relayUrl: string, partial: Partial<SlurmSpawnerOptions> = {}): SlurmSpawnerOptions {
  return Value.Default(SlurmSpawnerOptions, {
    runAs: 'hub',
    clientEnvironment: slurm.env,
    path: process.env.PATH,
    homeDir: home,
    python: '/usr/bin/python3',
    cmd: [process.execPath, STUB],
    srun: '',
    bindAddress: '127.0.0.1',
    reportUrl: relayUrl,
    accounts: { fromSacctmgr: true, fallback: [] },
    partitions: [
      { name: 'debug', defaultMemory: '100M', defaultWalltime: '30', maxCores: 2, maxMemory: '2G', maxWalltime: '8:00:00' },
      { name: 'small', defaultMemory: '100M', defaultWalltime: '30', maxCores: 1, maxMemory: '1G', maxWalltime: '1:00:00' },
    ],
    poll: { intervalSeconds: 1, startIntervalSeconds: 0.5, jitter: 0.2, maxBackoffSeconds: 4 },
    stopTimeoutSeconds: 5,
    resourcesCacheSeconds: 0,
    ...partial,
  }) as SlurmSpawnerOptions;
}

export interface Relay {
  url: string;
  /** Wraps a kind so every spawner it makes is found by the token it starts with. */
  wrap(kind: SpawnerKind<any>): SpawnerKind<any>;
  track(s: Spawner): Spawner;
  /** Reports received: status answered and body. */
  reports: { status: number; body: unknown }[];
  close(): Promise<void>;
}

export async function startRelay(): Promise<Relay> {
  const byToken = new Map<string, Spawner>();
  const reports: Relay['reports'] = [];
  const server: Server = createServer((req, res) => {
    let text = '';
    req.on('data', (d) => (text += d));
    req.on('end', async () => {
      const answer = (status: number, message: string, body: unknown = null) => {
        reports.push({ status, body });
        res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify({ status, message }));
      };
      const token = /^token\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
      const s = token ? byToken.get(token) : undefined;
      if (!s?.report) return answer(403, 'unknown token');
      let body: { port?: unknown; host?: unknown };
      try {
        body = JSON.parse(text);
      } catch {
        return answer(400, 'bad json');
      }
      try {
        await s.report({ host: typeof body.host === 'string' ? body.host : null, port: Number(body.port), peer: req.socket.remoteAddress ?? '' });
        answer(200, 'ok', body);
      } catch (err) {
        answer(403, (err as Error).message, body);
      }
    });
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  const track = (s: Spawner) => {
    const start = s.start.bind(s);
    s.start = (ctx: SpawnContext) => {
      byToken.set(ctx.env.JUPYTERHUB_API_TOKEN!, s);
      return start(ctx);
    };
    return s;
  };
  return {
    url: `http://127.0.0.1:${port}/hub/api/batchspawner`,
    reports,
    track,
    wrap: (kind) => ({ ...kind, create: (args) => track(kind.create(args)) }),
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

/** A squeue that counts its calls in a file, for the one-call-per-cycle check. */
export function countingSqueue(dir: string): { path: string; count(): number; reset(): void } {
  const file = join(dir, 'squeue-calls');
  const path = join(dir, 'squeue-counting');
  writeFileSync(path, `#!/bin/sh\necho "$*" >> '${file}'\nexec squeue "$@"\n`);
  chmodSync(path, 0o755);
  writeFileSync(file, '');
  return {
    path,
    count: () => readFileSync(file, 'utf8').split('\n').filter(Boolean).length,
    reset: () => writeFileSync(file, ''),
  };
}

export function tempHome(): string {
  const d = mkdtempSync(join(tmpdir(), 'atrium-slurm-home-'));
  chmodSync(d, 0o755);
  return d;
}

export { slurmSpawnerKind };
