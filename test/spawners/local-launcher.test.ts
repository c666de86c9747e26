/**
 * The local spawner forks servers through the launcher (src/spawners/local/launcher.ts, issue 15
 * item 1): real processes (the node stub). The server is the launcher's child, not the test
 * process's; its exit (a SIGKILL from outside) reaches poll(); a program that does not exist
 * fails the start with the system's reason; when the launcher is killed, running servers keep
 * running (poll() watches /proc), stop still works, and the next start gets a new launcher;
 * `launcher: false` forks from the calling process as before.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Value } from '@sinclair/typebox/value';
import { afterAll, describe, expect, it } from 'vitest';
import { localSpawnerKind, LocalSpawnerOptions } from '../../src/spawners/local/index.js';
import { launcherPid } from '../../src/spawners/local/launcher.js';
import { isAlive } from '../../src/spawners/local/proc.js';
import type { Spawner } from '../../src/spawners/spawner.js';
import { freePort, waitForHttp } from '../services/util.js';
import { contractContext, contractEnv, silentLog } from './contract.js';

const STUB = resolve(import.meta.dirname, '../fixtures/stub-singleuser.mjs');
const work = mkdtempSync(join(tmpdir(), 'atrium-launcher-test-'));
const running: Spawner[] = [];
afterAll(async () => {
  for (const s of running) await s.stop({ immediate: true }).catch(() => undefined);
  rmSync(work, { recursive: true, force: true });
});

const ppidOf = (pid: number) => Number(/^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);

async function start(partial: Partial<LocalSpawnerOptions> = {}) {
  const options = Value.Default(LocalSpawnerOptions, { homeTemplate: join(work, 'homes', '{username}'), cmd: [process.execPath, STUB], ...partial }) as LocalSpawnerOptions;
  const user = `l${randomBytes(3).toString('hex')}`;
  const s = localSpawnerKind.create({ options, user: { name: user, admin: false, groups: [] }, serverName: '', log: silentLog, logDir: join(work, 'logs') });
  running.push(s);
  const env = contractEnv(user, '', await freePort());
  const { url } = await s.start(contractContext(user, '', env, AbortSignal.timeout(30_000)));
  await waitForHttp(`${url}${env.JUPYTERHUB_SERVICE_PREFIX}`, 30_000);
  return { s, pid: (s.state() as { pid: number }).pid };
}

describe('local spawner launcher', () => {
  it('forks the server from the launcher, and the server\'s exit reaches poll()', async () => {
    const { s, pid } = await start();
    const launcher = launcherPid();
    expect(launcher).toBeGreaterThan(0);
    expect(launcher).not.toBe(process.pid);
    expect(ppidOf(pid)).toBe(launcher);
    expect(await s.poll()).toBeNull();
    process.kill(pid, 'SIGKILL');
    // /proc may say "gone" a moment before the launcher's exit message arrives; then the status is exact.
    let status = await s.poll();
    for (let i = 0; i < 100 && status?.reason !== 'killed by SIGKILL'; i++) {
      await sleep(50);
      status = await s.poll();
    }
    expect(status?.reason).toBe('killed by SIGKILL');
  }, 40_000);

  it('a program that does not exist fails the start with the reason', async () => {
    await expect(start({ cmd: [join(work, 'no-such-program')] })).rejects.toThrow(/could not be started|ENOENT/);
  }, 20_000);

  it('servers outlive a killed launcher, and the next start gets a new one', async () => {
    const { s, pid } = await start();
    const old = launcherPid()!;
    process.kill(old, 'SIGKILL');
    for (let i = 0; i < 100 && launcherPid() === old; i++) await sleep(20);
    expect(launcherPid()).toBeUndefined();
    expect(await s.poll()).toBeNull(); // still running, judged from /proc
    const second = await start();
    expect(launcherPid()).toBeGreaterThan(0);
    expect(launcherPid()).not.toBe(old);
    expect(ppidOf(second.pid)).toBe(launcherPid());
    await s.stop();
    expect(await s.poll()).not.toBeNull();
    await second.s.stop();
    expect(isAlive(pid)).toBe(false); // a zombie until init reaps it, which counts as gone
  }, 60_000);

  it('launcher: false forks from the calling process', async () => {
    const { s, pid } = await start({ launcher: false });
    expect(ppidOf(pid)).toBe(process.pid);
    await s.stop();
  }, 40_000);
});
