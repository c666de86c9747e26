/**
 * Where a local server's log file and (for runAs: hub) home directory live, created safely.
 *
 * The defaults live under os.tmpdir(), which other local users can write to. So a default
 * directory must be a real directory owned by the hub's user (not a symlink someone planted), and
 * log files are opened with O_NOFOLLOW: a hub running as root must never be tricked into
 * appending to an arbitrary file.
 */
import { constants, fstatSync, openSync, promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SpawnError } from '../spawner.js';

export function defaultLogDir(): string {
  return join(tmpdir(), 'atrium-logs');
}

/** A name usable as one path component: anything unusual becomes '_' (names come from users). */
export function safeComponent(name: string): string {
  const s = name.replace(/[^A-Za-z0-9._@+-]/g, '_');
  return s === '' || s === '.' || s === '..' ? `_${s}` : s;
}

/** `<logDir>/<user>[-<server>].log` */
export function logPathFor(dir: string, userName: string, serverName: string): string {
  const base = serverName ? `${userName}-${serverName}` : userName;
  return join(dir, `${safeComponent(base)}.log`);
}

/**
 * mkdir -p with mode 0700; if `mustOwn`, refuse a directory that is a symlink or owned by
 * another user (someone could have created it first in a shared /tmp).
 */
export async function ensureDir(dir: string, mustOwn: boolean): Promise<void> {
  try {
    await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new SpawnError('Cannot prepare the server directory', `${dir}: ${(err as Error).message}`);
  }
  if (!mustOwn) return;
  const st = await fsp.lstat(dir);
  const me = process.getuid?.() ?? st.uid;
  if (!st.isDirectory() || st.uid !== me) {
    throw new SpawnError('Cannot prepare the server directory', `${dir} is not a directory owned by uid ${me}; refusing to use it`);
  }
}

export interface OpenedLog {
  fd: number;
  path: string;
  /** File size before this spawn wrote anything: the tail shown on failure starts here. */
  offset: number;
}

export async function openLog(path: string, isDefaultDir: boolean): Promise<OpenedLog> {
  const dir = path.slice(0, path.lastIndexOf('/')) || '/';
  await ensureDir(dir, isDefaultDir);
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND | constants.O_NOFOLLOW;
  // A plain fd (not a FileHandle): it is handed to the child as stdout/stderr, and a FileHandle
  // would close it on garbage collection behind our back.
  let fd: number;
  try {
    fd = openSync(path, flags, 0o600);
  } catch (err) {
    throw new SpawnError('Cannot open the server log file', `${path}: ${(err as Error).message}`);
  }
  return { fd, path, offset: fstatSync(fd).size };
}

/** The last `maxLines` lines the current spawn wrote to its log (for error messages). */
export async function tailLog(path: string, offset: number, maxLines = 20, maxBytes = 8192): Promise<string> {
  try {
    const fh = await fsp.open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      const { size } = await fh.stat();
      const start = Math.max(offset, size - maxBytes);
      const buf = Buffer.alloc(Math.max(0, size - start));
      await fh.read(buf, 0, buf.length, start);
      return buf.toString('utf8').trimEnd().split('\n').slice(-maxLines).join('\n');
    } finally {
      await fh.close();
    }
  } catch {
    return '';
  }
}
