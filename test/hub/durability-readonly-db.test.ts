/**
 * Storage that stops accepting writes underneath a running hub. What can happen, as root on
 * Linux (measured while writing this): a plain or bind read-only remount is refused (EBUSY) while
 * the hub holds the database open for writing, and chmod does not affect open files. What does
 * happen: an immutable flag or an emergency read-only/shut-down filesystem (writes fail with an
 * I/O error), and the WAL shared-memory file (-shm) being truncated or replaced, which makes the
 * next access to its mapping a SIGBUS. In every case the hub must log one fatal line and exit
 * non-zero for its supervisor, never die silently of a signal. Real hub process on a real ext4
 * filesystem (a loop mount, so root is needed; skipped otherwise).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { hubProcess, pidAlive, type HubProcess } from './hub-process.js';
import { waitFor } from './harness.js';

function canLoopMount(): boolean {
  if (process.getuid?.() !== 0) return false;
  try {
    execFileSync('mkfs.ext4', ['-V'], { stdio: 'ignore' });
    execFileSync('chattr', ['--help'], { stdio: 'ignore' });
    return true;
  } catch (err) {
    return (err as { status?: number }).status !== undefined && (err as { status?: number }).status !== 127;
  }
}

const DB_FILES = ['atrium.sqlite', 'atrium.sqlite-wal', 'atrium.sqlite-shm'];

/** One JSON log line per fatal; pino level 60. */
const fatalLines = (out: string) => out.split('\n').filter((l) => l.includes('"level":60'));

describe.skipIf(!canLoopMount())('a database that can no longer be written', () => {
  let hp: HubProcess | null = null;
  let dir = '';
  let mountPoint = '';
  let immutable: string[] = [];

  async function startOnExt4(): Promise<HubProcess> {
    dir = mkdtempSync(join(tmpdir(), 'atrium-rodb-'));
    mountPoint = join(dir, 'mnt');
    mkdirSync(mountPoint);
    execFileSync('truncate', ['-s', '32M', join(dir, 'fs.img')]);
    execFileSync('mkfs.ext4', ['-q', '-F', join(dir, 'fs.img')]);
    execFileSync('mount', ['-o', 'loop', join(dir, 'fs.img'), mountPoint]);
    const stateDir = join(mountPoint, 'state');
    mkdirSync(stateDir);
    hp = await hubProcess({}, { stateDir });
    await hp.start();
    return hp;
  }

  afterEach(async () => {
    if (immutable.length) execFileSync('chattr', ['-i', ...immutable]);
    immutable = [];
    const pidFile = hp ? join(hp.stateDir, 'proxy.pid') : '';
    const proxyPid = pidFile && existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8')) : 0;
    await hp?.teardown();
    hp = null;
    // The proxy runs with its cwd on the mount: wait for it to be gone before unmounting.
    if (proxyPid > 0) await waitFor(() => !pidAlive(proxyPid), 10_000, 50);
    if (mountPoint) execFileSync('umount', [mountPoint]);
    mountPoint = '';
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('an immutable WAL file: the next write logs one fatal line and the hub exits 1', async () => {
    const h = await startOnExt4();
    const admin = h.token('admin');
    immutable = [join(h.stateDir, 'atrium.sqlite-wal')];
    execFileSync('chattr', ['+i', ...immutable]);
    const exited = h.kill('SIGCONT'); // resolves when the process exits (SIGCONT itself is harmless)
    // The write meets the error (or the storage check sees the flag first): either way, one line.
    await h.api('POST', '/users/newcomer', { token: admin, direct: true }).then((r) => r.arrayBuffer()).catch(() => undefined);
    expect(await exited).toEqual({ code: 1, signal: null });
    const fatal = fatalLines(h.output());
    expect(fatal).toHaveLength(1);
    expect(fatal[0]).toMatch(/SQLITE_(IOERR|READONLY)/);
    expect(fatal[0]).toMatch(/can no longer be written/);
  });

  it('immutable database and -shm files: one fatal line and exit 1 instead of a silent SIGBUS', async () => {
    const h = await startOnExt4();
    immutable = DB_FILES.map((f) => join(h.stateDir, f));
    const exited = h.kill('SIGCONT');
    execFileSync('chattr', ['+i', ...immutable]);
    expect(await exited).toEqual({ code: 1, signal: null });
    const fatal = fatalLines(h.output());
    expect(fatal).toHaveLength(1);
    expect(fatal[0]).toMatch(/SQLITE_READONLY.*immutable or not permitted/);
  });

  it('a truncated -shm file: one fatal line and exit 1 instead of a silent SIGBUS', async () => {
    const h = await startOnExt4();
    const exited = h.kill('SIGCONT');
    truncateSync(join(h.stateDir, 'atrium.sqlite-shm'), 0);
    const how = await exited;
    expect(how).toEqual({ code: 1, signal: null });
    const fatal = fatalLines(h.output());
    expect(fatal).toHaveLength(1);
    expect(fatal[0]).toMatch(/shared-memory file .* was truncated/);
  });
});
