/**
 * The local spawner starts servers below the hub's CPU priority (options.nice, default 10), so a
 * class starting at once cannot starve the hub and the proxy (issue 15). Real processes: the node
 * stub, and a shell that forks a child the way a notebook server forks kernels.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { getPriority, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { afterAll, describe, expect, it } from 'vitest';
import { localSpawnerKind, LocalSpawnerOptions } from '../../src/spawners/local/index.js';
import type { Spawner } from '../../src/spawners/spawner.js';
import { freePort, waitForHttp } from '../services/util.js';
import { contractContext, contractEnv, silentLog } from './contract.js';

const STUB = resolve(import.meta.dirname, '../fixtures/stub-singleuser.mjs');
const work = mkdtempSync(join(tmpdir(), 'atrium-nice-test-'));
const running: Spawner[] = [];
afterAll(async () => {
  for (const s of running) await s.stop().catch(() => undefined);
  rmSync(work, { recursive: true, force: true });
});

/** Field 19 of /proc/<pid>/stat. */
const niceOf = (pid: number) => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[16]);
const childrenOf = (pid: number) =>
  readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);

async function start(partial: Partial<LocalSpawnerOptions>) {
  const options = Value.Default(LocalSpawnerOptions, { homeTemplate: join(work, 'homes', '{username}'), ...partial }) as LocalSpawnerOptions;
  const user = `nice${randomBytes(3).toString('hex')}`;
  const s = localSpawnerKind.create({ options, user: { name: user, admin: false, groups: [] }, serverName: '', log: silentLog, logDir: join(work, 'logs') });
  running.push(s);
  const env = contractEnv(user, '', await freePort());
  const { url } = await s.start(contractContext(user, '', env, AbortSignal.timeout(30_000)));
  await waitForHttp(`${url}${env.JUPYTERHUB_SERVICE_PREFIX}`, 30_000);
  return { s, pid: (s.state() as { pid: number }).pid };
}

describe('local spawner CPU priority', () => {
  const hubNice = getPriority(0);

  it('runs the server 10 below the hub by default, and what it forks inherits that', async () => {
    const { s, pid } = await start({ cmd: ['sh', '-c', 'sleep 0.2; sleep 60 & exec "$0" "$1"', process.execPath, STUB] });
    expect(niceOf(pid)).toBe(Math.min(19, hubNice + 10));
    const kids = childrenOf(pid);
    expect(kids.length).toBeGreaterThan(0);
    for (const k of kids) expect(niceOf(k)).toBe(Math.min(19, hubNice + 10));
    expect(getPriority(0)).toBe(hubNice); // the hub itself is untouched
    await s.stop();
  }, 40_000);

  it('nice: 0 keeps the hub\'s priority', async () => {
    const { s, pid } = await start({ cmd: [process.execPath, STUB], nice: 0 });
    expect(niceOf(pid)).toBe(hubNice);
    await s.stop();
  }, 40_000);
});
