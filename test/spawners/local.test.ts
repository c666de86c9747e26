/**
 * The local spawner: the shared contract with the node stub, then what only a local process has:
 * the real jupyterhub-singleuser, system users, a real hub restart, recycled PIDs, log files.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { localSpawnerKind, LocalSpawnerOptions } from '../../src/spawners/local/index.js';
import { procStat } from '../../src/spawners/local/proc.js';
import type { Spawner } from '../../src/spawners/spawner.js';
import { freePort, startProcess, waitForHttp, worldReadableCopy } from '../services/util.js';
import { contractContext, contractEnv, runSpawnerContract, silentLog } from './contract.js';

const STUB = resolve(import.meta.dirname, '../fixtures/stub-singleuser.mjs');
const isRoot = process.getuid?.() === 0;
const work = mkdtempSync(join(tmpdir(), 'atrium-local-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function options(partial: Partial<LocalSpawnerOptions>): LocalSpawnerOptions {
  return Value.Default(LocalSpawnerOptions, { homeTemplate: join(work, 'homes', '{username}'), ...partial }) as LocalSpawnerOptions;
}
const stubOptions = options({ cmd: [process.execPath, STUB] });

runSpawnerContract('local', async () => ({
  kind: localSpawnerKind,
  options: stubOptions,
  stub: true,
  logDir: join(work, 'contract-logs'),
  failingOptions: options({ cmd: [process.execPath, '-e', 'console.error("boom"); process.exit(3)'] }),
  neverReadyOptions: options({ cmd: [process.execPath, '-e', 'setInterval(() => {}, 1000)'] }),
}));

// The python stub is what container images run; it must behave exactly like the node one.
runSpawnerContract('local, python stub', async () => ({
  kind: localSpawnerKind,
  options: options({ cmd: [existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3', STUB.replace(/\.mjs$/, '.py')] }),
  stub: true,
  logDir: join(work, 'contract-logs'),
}));

const testEnv = (user: string, server: string, apiPort: number): Record<string, string> => contractEnv(user, server, apiPort);

const running: Spawner[] = [];
afterAll(async () => {
  for (const s of running) await s.stop().catch(() => undefined);
});

/** Logs go to a dir inside this test's temp dir (as the hub passes stateDir/logs), not the default. */
async function startServer(opts: LocalSpawnerOptions, user: string, env: Record<string, string>, serverName = '', logDir = join(work, 'logs')) {
  const s = localSpawnerKind.create({ options: opts, user: { name: user, admin: false, groups: [] }, serverName, log: silentLog, logDir });
  running.push(s);
  const t0 = performance.now();
  const { url } = await s.start(contractContext(user, serverName, env, AbortSignal.timeout(60_000)));
  const base = env.JUPYTERHUB_SERVICE_PREFIX!;
  await waitForHttp(`${url}${base}`, 60_000);
  const readyMs = Math.round(performance.now() - t0);
  return { s, url, base, readyMs, pid: (s.state() as { pid: number }).pid };
}

const uname = (tag: string) => `${tag}${randomBytes(3).toString('hex')}`;
const environOf = (pid: number) =>
  Object.fromEntries(readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));

describe('local spawner', () => {
  it('writes <logDir>/<user>-<server>.log, passes USER/HOME/SHELL and keeps ATRIUM_SPAWNER_* to itself', async () => {
    const user = uname('log');
    const logDir = join(work, 'logs');
    const env = testEnv(user, 'nb', await freePort());
    const { s, pid, readyMs } = await startServer(stubOptions, user, env, 'nb', logDir);
    console.info(`[measure] node stub: start() to HTTP ready ${readyMs} ms`);
    const childEnv = environOf(pid);
    expect(Object.keys(childEnv).filter((k) => k.startsWith('ATRIUM_SPAWNER_'))).toEqual([]);
    expect(childEnv.USER).toBe(user);
    expect(childEnv.HOME).toBe(join(work, 'homes', user));
    expect(childEnv.SHELL).toBe('/bin/bash');
    expect(childEnv.PATH).toBe(process.env.PATH);
    expect(procStat(pid)!.pgrp).toBe(pid); // its own process group
    await s.stop();
    expect(readFileSync(join(logDir, `${user}-nb.log`), 'utf8')).toMatch(/stub-singleuser: listening/);
  });

  it('a failing command rejects with the log tail as detail', async () => {
    const user = uname('fail');
    const s = localSpawnerKind.create({ options: options({ cmd: [process.execPath, '-e', 'console.error("no-such-module xyz"); process.exit(4)'] }), user: { name: user, admin: false, groups: [] }, serverName: '', log: silentLog });
    const err = (await s.start(contractContext(user, '', testEnv(user, '', await freePort()), AbortSignal.timeout(30_000))).catch((e: unknown) => e)) as { name: string; message: string; detail?: string };
    expect(err.name).toBe('SpawnError');
    expect(err.message).toMatch(/exit status 4/);
    expect(err.detail).toMatch(/no-such-module xyz/);
  });

  it('runAs system-user refuses clearly when the hub is not root', async () => {
    const spy = vi.spyOn(process as { getuid(): number }, 'getuid').mockReturnValue(1000);
    try {
      const user = uname('nr');
      const s = localSpawnerKind.create({ options: options({ cmd: [process.execPath, STUB], runAs: 'system-user' }), user: { name: user, admin: false, groups: [] }, serverName: '', log: silentLog });
      const err = (await s.start(contractContext(user, '', testEnv(user, '', await freePort()), AbortSignal.timeout(30_000))).catch((e: unknown) => e)) as { name: string; message: string; detail?: string };
      expect(err.name).toBe('SpawnError');
      expect(err.detail).toMatch(/needs the hub to run as root/);
    } finally {
      spy.mockRestore();
    }
  });

  it('a missing command rejects with SpawnError', async () => {
    const user = uname('nocmd');
    const s = localSpawnerKind.create({ options: options({ cmd: ['/nonexistent/atrium-no-such-binary'] }), user: { name: user, admin: false, groups: [] }, serverName: '', log: silentLog });
    const err = (await s.start(contractContext(user, '', testEnv(user, '', await freePort()), AbortSignal.timeout(30_000))).catch((e: unknown) => e)) as Error;
    expect(err.name).toBe('SpawnError');
    expect(await s.poll()).not.toBeNull();
  });

  it('the server outlives the hub process that started it, and a new hub re-attaches and stops it', async () => {
    const user = uname('rs');
    const env = testEnv(user, '', await freePort());
    const script = join(work, 'hub-once.mts');
    // A throwaway "hub": start one server, print its state, exit. It can only exit if the child
    // is detached and unref'd.
    writeFileSync(script, `
      const quiet = { info() {}, warn() {}, error() {}, debug() {}, child() { return quiet; } } as any;
      import { localSpawnerKind } from ${JSON.stringify(resolve(import.meta.dirname, '../../src/spawners/local/index.ts'))};
      const s = localSpawnerKind.create({ options: ${JSON.stringify(stubOptions)}, user: { name: ${JSON.stringify(user)}, admin: false, groups: [] }, serverName: '', log: quiet });
      const { url } = await s.start({ user: { name: ${JSON.stringify(user)}, admin: false, groups: [] }, serverName: '', env: ${JSON.stringify(env)}, userOptions: {}, authState: null, baseUrl: ${JSON.stringify(env.JUPYTERHUB_SERVICE_PREFIX)}, log: quiet, signal: AbortSignal.timeout(30000), ownerTag: 'test:1:once', recordHandle() {} });
      console.log(JSON.stringify({ url, state: s.state() }));
    `);
    const out = execFileSync(process.execPath, ['--import', 'tsx', script], { cwd: resolve(import.meta.dirname, '../..'), timeout: 60_000 }).toString();
    const { url, state } = JSON.parse(out.trim().split('\n').pop()!) as { url: string; state: Record<string, unknown> };
    const fresh = localSpawnerKind.create({ options: stubOptions, user: { name: user, admin: false, groups: [] }, serverName: '', log: silentLog });
    running.push(fresh);
    fresh.restore(state);
    expect(await fresh.poll()).toBeNull();
    expect(await waitForHttp(`${url}${env.JUPYTERHUB_SERVICE_PREFIX}api/status`, 10_000)).toBe(200);
    await fresh.stop();
    expect(await fresh.poll()).not.toBeNull();
    // Gone, or a zombie waiting for init (its parent, the throwaway hub, is gone) to reap it:
    // either way it no longer runs, and stop() does not wait for init's reaping.
    expect([undefined, 'Z', 'X']).toContain(procStat(state.pid as number)?.state);
  });

  it('a recycled PID (right pid, wrong start time) is not our server and is never signalled', async () => {
    const other = startProcess('sleep', ['600']);
    try {
      const ticks = procStat(other.pid)!.startTicks;
      const base = { pid: other.pid, port: await freePort(), ip: '127.0.0.1', startTime: Date.now(), logPath: '' };
      const wrong = localSpawnerKind.create({ options: stubOptions, user: { name: 'x', admin: false, groups: [] }, serverName: '', log: silentLog });
      wrong.restore({ ...base, procStartTicks: ticks + 12345 });
      expect(await wrong.poll()).toMatchObject({ exitStatus: null });
      await wrong.stop();
      expect(procStat(other.pid)).not.toBeNull(); // untouched
      // Same pid with the right start time is ours: it polls running and stop() ends it.
      const right = localSpawnerKind.create({ options: stubOptions, user: { name: 'x', admin: false, groups: [] }, serverName: '', log: silentLog });
      right.restore({ ...base, procStartTicks: ticks });
      expect(await right.poll()).toBeNull();
      await right.stop();
      expect(await right.poll()).not.toBeNull();
    } finally {
      await other.stop('SIGKILL', 1000);
    }
  });

  it('runs the real jupyterhub-singleuser against a fake hub API', async () => {
    const user = uname('real');
    const seen: { method: string; url: string; auth?: string }[] = [];
    const hub: Server = createServer((req, res) => {
      seen.push({ method: req.method!, url: req.url!, auth: req.headers.authorization });
      req.resume();
      if (req.method === 'GET' && /^\/hub\/api\/?$/.test(req.url!)) {
        res.writeHead(200, { 'Content-Type': 'application/json', 'X-JupyterHub-Version': '3.0.0' });
        return res.end('{"version": "3.0.0"}');
      }
      if (req.method === 'POST' && req.url === `/hub/api/users/${user}/activity`) return res.writeHead(200).end();
      res.writeHead(404).end();
    });
    const hubPort = await freePort();
    await new Promise<void>((r) => hub.listen(hubPort, '127.0.0.1', r));
    try {
      const env = testEnv(user, '', hubPort);
      const logDir = join(work, 'real-logs');
      const { s, url, base, readyMs } = await startServer(options({}), user, env, '', logDir);
      console.info(`[measure] jupyterhub-singleuser: start() to HTTP ready ${readyMs} ms`);
      const status = await waitForHttp(`${url}${base}api/status`, 10_000);
      expect(status).toBeLessThan(500);
      expect(seen.some((r) => r.method === 'GET' && r.url.startsWith('/hub/api'))).toBe(true);
      const log = readFileSync(join(logDir, `${user}.log`), 'utf8');
      if (isRoot) expect(log).toContain('--allow-root');
      // Like the real server, it reports activity right after start, with its own token.
      await expect.poll(() => seen.some((r) => r.method === 'POST' && r.auth === `token ${env.JUPYTERHUB_API_TOKEN}`), { timeout: 20_000 }).toBe(true);
      const t0 = performance.now();
      await s.stop();
      console.info(`[measure] jupyterhub-singleuser: stop() ${Math.round(performance.now() - t0)} ms`);
      expect(await s.poll()).not.toBeNull();
      await expect(fetch(`${url}${base}api/status`)).rejects.toThrow();
    } finally {
      hub.closeAllConnections();
      await new Promise((r) => hub.close(r));
    }
  }, 120_000);
});

describe.skipIf(!isRoot)('local spawner, runAs system-user (needs root: creates a temporary Unix user)', () => {
  const account = uname('atrt');
  const home = join(work, `home-${account}`);
  // Other users must be able to read the stub even when the checkout is under a 0700 directory.
  const PUBLIC_STUB = worldReadableCopy(STUB);
  const sysOptions = () => options({ cmd: [process.execPath, PUBLIC_STUB], runAs: 'system-user', homeTemplate: '' });
  let uid = 0;

  beforeAll(() => {
    execFileSync('useradd', ['-m', '-d', home, '-s', '/bin/sh', '-U', account]);
    uid = Number(execFileSync('id', ['-u', account]).toString().trim());
  });
  afterAll(() => {
    execFileSync('userdel', ['-r', account], { stdio: 'ignore' });
  });

  it('runs the server as the account named like the user, with its HOME and SHELL', async () => {
    const env = testEnv(account, '', await freePort());
    const { s, url, base, pid } = await startServer(sysOptions(), account, env);
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    expect(status).toMatch(new RegExp(`^Uid:\\s+${uid}\\s+${uid}\\s+${uid}\\s+${uid}`, 'm'));
    const got = (await (await fetch(`${url}${base}env`)).json()) as Record<string, string>;
    expect(got.USER).toBe(account);
    expect(got.HOME).toBe(home);
    expect(environOf(pid).SHELL).toBe('/bin/sh');
    await s.stop();
  });

  it('uses NB_UID/NB_GID from a hook when there is no such account', async () => {
    const user = uname('nbu');
    const env = { ...testEnv(user, '', await freePort()), NB_UID: '424242', NB_GID: '424243' };
    const { s, pid } = await startServer(options({ cmd: [process.execPath, PUBLIC_STUB], runAs: 'system-user' }), user, env);
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    expect(status).toMatch(/^Uid:\s+424242\s/m);
    expect(status).toMatch(/^Gid:\s+424243\s/m);
    expect(status).toMatch(/^Groups:\s*$/m); // no supplementary groups inherited from root
    expect(environOf(pid).HOME).toBe(join(work, 'homes', user));
    await s.stop();
  });

  it('refuses a user with neither an account nor NB_UID, and never runs as root', async () => {
    for (const user of [uname('none'), 'root']) {
      const s = localSpawnerKind.create({ options: sysOptions(), user: { name: user, admin: false, groups: [] }, serverName: '', log: silentLog });
      const err = (await s.start(contractContext(user, '', testEnv(user, '', await freePort()), AbortSignal.timeout(30_000))).catch((e: unknown) => e)) as Error;
      expect(err.name, user).toBe('SpawnError');
      expect(err.message).toMatch(user === 'root' ? /never started as root/ : /No system account/);
    }
  });
});
