/**
 * Default homes of the local spawner: per hub, under the state directory, kept across stop/start;
 * and the move of an old `<tmpdir>/atrium-homes/<user>` folder on upgrade — only this hub's,
 * never through a symlink, never over an existing home, across file systems too (tmpfs /dev/shm
 * → disk). The legacy root is a temp dir of this test: the machine's real /tmp/atrium-homes may
 * belong to other hubs.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { afterAll, describe, expect, it } from 'vitest';
import { localSpawnerKind, LocalSpawnerOptions } from '../../src/spawners/local/index.js';
import { adoptLegacyHome, homeRootFor } from '../../src/spawners/local/homes.js';
import type { Spawner } from '../../src/spawners/spawner.js';
import { freePort, waitForHttp, worldReadableCopy } from '../services/util.js';
import { contractContext, contractEnv, silentLog } from './contract.js';

const STUB = resolve(import.meta.dirname, '../fixtures/stub-singleuser.mjs');
const work = mkdtempSync(join(tmpdir(), 'atrium-homes-test-'));
const shm = existsSync('/dev/shm') ? mkdtempSync('/dev/shm/atrium-homes-test-') : null;
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
  if (shm) rmSync(shm, { recursive: true, force: true });
});
const uname = (tag: string) => `${tag}${randomBytes(3).toString('hex')}`;
const environOf = (pid: number) =>
  Object.fromEntries(readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));

/** A pino-like logger that keeps what was logged. */
function recordingLog() {
  const lines: string[] = [];
  const at = (level: string) => (o: unknown, msg?: string) => lines.push(`${level} ${msg ?? ''} ${JSON.stringify(o)}`);
  const log = { info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug'), child: () => log } as unknown as Parameters<typeof adoptLegacyHome>[3];
  return { log, lines };
}

describe('default homes live in the hub state directory', () => {
  it('HOME is <stateDir>/homes/<user> (0700) and a file written there survives stop and start', async () => {
    const stateDir = join(work, 'state1');
    const user = uname('h');
    const opts = Value.Default(LocalSpawnerOptions, { cmd: [process.execPath, STUB] }) as LocalSpawnerOptions;
    const runOnce = async () => {
      const s: Spawner = localSpawnerKind.create({ options: opts, user: { name: user, admin: false, groups: [] }, serverName: '', log: silentLog, logDir: join(stateDir, 'logs'), stateDir });
      const env = contractEnv(user, '', await freePort());
      const { url } = await s.start(contractContext(user, '', env, AbortSignal.timeout(30_000)));
      await waitForHttp(`${url}${env.JUPYTERHUB_SERVICE_PREFIX}`, 30_000);
      const home = environOf((s.state() as { pid: number }).pid).HOME!;
      await s.stop();
      return home;
    };
    const home = await runOnce();
    expect(home).toBe(join(stateDir, 'homes', user));
    expect(statSync(home).mode & 0o777).toBe(0o700);
    expect(statSync(join(stateDir, 'homes')).mode & 0o777).toBe(0o700);
    writeFileSync(join(home, 'work.ipynb'), '{}');
    expect(await runOnce()).toBe(home);
    expect(readFileSync(join(home, 'work.ipynb'), 'utf8')).toBe('{}');
  });

  it.skipIf(process.getuid?.() !== 0)('runAs system-user with homeRoot: <homeRoot>/<user>, 0700, owned by the user; the root folder passable', async () => {
    const pub = mkdtempSync(join(tmpdir(), 'atrium-homeroot-'));
    chmodSync(pub, 0o755);
    dirs.push(pub);
    const root = join(pub, 'homes');
    const user = uname('su');
    const opts = Value.Default(LocalSpawnerOptions, { cmd: [process.execPath, worldReadableCopy(STUB)], runAs: 'system-user', homeRoot: root }) as LocalSpawnerOptions;
    const s = localSpawnerKind.create({ options: opts, user: { name: user, admin: false, groups: [] }, serverName: '', log: silentLog, logDir: join(work, 'su-logs'), stateDir: join(work, 'su-state') });
    const env: Record<string, string> = { ...contractEnv(user, '', await freePort()), NB_UID: '424250', NB_GID: '424250' };
    const { url } = await s.start(contractContext(user, '', env, AbortSignal.timeout(30_000)));
    await waitForHttp(`${url}${env.JUPYTERHUB_SERVICE_PREFIX}`, 30_000);
    const pid = (s.state() as { pid: number }).pid;
    expect(environOf(pid).HOME).toBe(join(root, user));
    const st = statSync(join(root, user));
    expect([st.uid, st.gid, st.mode & 0o777]).toEqual([424250, 424250, 0o700]);
    expect(statSync(root).mode & 0o777).toBe(0o755);
    await s.stop();
  });

  it('homeRoot: configured root, else <stateDir>/homes', () => {
    expect(homeRootFor('/srv/nb-homes', '/var/lib/atrium')).toBe('/srv/nb-homes');
    expect(homeRootFor('', '/var/lib/atrium')).toBe('/var/lib/atrium/homes');
    expect(homeRootFor('', './.atrium-state')).toBe(resolve('.atrium-state/homes'));
  });
});

describe('moving an old home out of the shared temporary folder', () => {
  /** An old layout: <legacy>/<user>/ with a notebook, a nested folder and a symlink to outside. */
  function oldLayout(base: string, user: string) {
    const legacy = join(base, `legacy-${randomBytes(3).toString('hex')}`);
    mkdirSync(join(legacy, user, 'sub'), { recursive: true, mode: 0o700 });
    writeFileSync(join(legacy, user, 'a.ipynb'), 'A');
    writeFileSync(join(legacy, user, 'sub', 'b.txt'), 'B');
    const outside = join(work, `outside-${randomBytes(3).toString('hex')}`);
    writeFileSync(outside, 'secret of someone else');
    symlinkSync(outside, join(legacy, user, 'link'));
    return { legacy, outside };
  }
  function hubWithLog(user: string, logName = `${user}.log`) {
    const stateDir = mkdtempSync(join(work, 'state-'));
    mkdirSync(join(stateDir, 'logs'));
    writeFileSync(join(stateDir, 'logs', logName), '[atrium] started\n');
    return { stateDir, logDir: join(stateDir, 'logs'), home: join(stateDir, 'homes', user) };
  }

  it.each([
    ['same file system (rename)', () => work],
    ['tmpfs → disk (copy, symlinks kept as symlinks)', () => shm],
  ])('%s: this hub\'s user folder is moved whole', async (_what, base) => {
    const b = base();
    if (!b) return;
    const user = uname('m');
    const { legacy, outside } = oldLayout(b, user);
    const { logDir, home } = hubWithLog(user, `${user}-nb1.log`);
    const { log, lines } = recordingLog();
    await adoptLegacyHome(user, home, logDir, log, legacy);
    expect(readFileSync(join(home, 'a.ipynb'), 'utf8')).toBe('A');
    expect(readFileSync(join(home, 'sub', 'b.txt'), 'utf8')).toBe('B');
    expect(lstatSync(join(home, 'link')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(home, 'link'))).toBe(outside);
    expect(statSync(home).mode & 0o777).toBe(0o700);
    expect(existsSync(join(legacy, user))).toBe(false);
    expect(lines.join('\n')).toMatch(/warn moved this user's home/);
  });

  it('a folder of a user this hub never ran (no log of theirs) stays where it is', async () => {
    const user = uname('n');
    const { legacy } = oldLayout(work, user);
    const { logDir, home } = hubWithLog(uname('other'));
    await adoptLegacyHome(user, home, logDir, recordingLog().log, legacy);
    expect(existsSync(home)).toBe(false);
    expect(readFileSync(join(legacy, user, 'a.ipynb'), 'utf8')).toBe('A');
  });

  it('a symlink planted as the user folder is not followed', async () => {
    const user = uname('s');
    const legacy = join(work, `legacy-${randomBytes(3).toString('hex')}`);
    mkdirSync(legacy, { mode: 0o700 });
    const target = mkdtempSync(join(work, 'victim-'));
    writeFileSync(join(target, 'victim.txt'), 'V');
    symlinkSync(target, join(legacy, user));
    const { logDir, home } = hubWithLog(user);
    await adoptLegacyHome(user, home, logDir, recordingLog().log, legacy);
    expect(existsSync(home)).toBe(false);
    expect(readFileSync(join(target, 'victim.txt'), 'utf8')).toBe('V');
    expect(lstatSync(join(legacy, user)).isSymbolicLink()).toBe(true);
  });

  it('a folder owned by another Unix user is not taken', async () => {
    if (process.getuid?.() !== 0) return; // only root can make a folder owned by someone else
    const user = uname('o');
    const { legacy } = oldLayout(work, user);
    chownSync(join(legacy, user), 65534, 65534);
    const { logDir, home } = hubWithLog(user);
    await adoptLegacyHome(user, home, logDir, recordingLog().log, legacy);
    expect(existsSync(home)).toBe(false);
    expect(existsSync(join(legacy, user, 'a.ipynb'))).toBe(true);
  });

  it('an existing new home is never merged or overwritten', async () => {
    const user = uname('e');
    const { legacy } = oldLayout(work, user);
    const { logDir, home } = hubWithLog(user);
    mkdirSync(home, { recursive: true });
    writeFileSync(join(home, 'a.ipynb'), 'NEW');
    await adoptLegacyHome(user, home, logDir, recordingLog().log, legacy);
    expect(readFileSync(join(home, 'a.ipynb'), 'utf8')).toBe('NEW');
    expect(readFileSync(join(legacy, user, 'a.ipynb'), 'utf8')).toBe('A');
  });
});
