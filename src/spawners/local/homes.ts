/**
 * Default homes of the local spawner (runAs hub, no homeTemplate): `<homeRoot>/<user>`, with
 * homeRoot = `<hub.stateDir>/homes` unless configured. They used to live in the shared
 * `<tmpdir>/atrium-homes/<user>`, which Debian empties at boot and which every hub on the machine
 * shared (one hub's alice saw another's files). A home left there is moved to the new place at the
 * user's first start after the upgrade, only when it is this hub's:
 *
 * - it is a real directory (lstat: a symlink planted in /tmp is never followed) owned by the
 *   hub's uid, inside a real `atrium-homes` directory owned by the hub's uid;
 * - this hub's private log directory holds a log of that user's local server
 *   (`<stateDir>/logs/<user>.log` or `<user>-<server>.log`): the old default home was used
 *   exactly when such a log was written. Another hub has its own log directory, so its users'
 *   folders are left alone — unless it ran as the same Unix user and served the same name, which
 *   the file system cannot tell apart; the first hub to start that user then takes the folder
 *   (logged).
 * - the new home does not exist yet (nothing is ever merged or overwritten).
 *
 * The move is a rename when both sides are on one file system; across file systems (tmpfs /tmp)
 * it is a copy that keeps symlinks as symlinks (never follows them) and skips sockets and FIFOs,
 * then the old folder is removed.
 */
import { constants, promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { safeComponent } from './files.js';

export function legacyHomeRoot(): string {
  return join(tmpdir(), 'atrium-homes');
}

/** Where default homes live: the configured root, else <stateDir>/homes, else (outside a hub) the legacy tmp root. */
export function homeRootFor(configured: string, stateDir: string | undefined): string {
  if (configured) return resolve(configured);
  return stateDir ? join(resolve(stateDir), 'homes') : legacyHomeRoot();
}

async function ownedRealDir(path: string, uid: number): Promise<boolean> {
  try {
    const st = await fsp.lstat(path);
    return st.isDirectory() && st.uid === uid;
  } catch {
    return false;
  }
}

async function hubRanUser(logDir: string, user: string): Promise<boolean> {
  const base = safeComponent(user);
  try {
    for (const f of await fsp.readdir(logDir)) {
      if (f === `${base}.log` || (f.startsWith(`${base}-`) && f.endsWith('.log'))) return true;
    }
  } catch {
    /* no log dir: this hub never ran anyone */
  }
  return false;
}

/** One move per user at a time (two named servers of one user may start together). */
const moving = new Map<string, Promise<void>>();

/**
 * Move `<legacy root>/<user>` to `home` when it is this hub's (see above). Never throws: a home
 * that cannot be moved is logged and left where it is, and the server starts with a new home.
 */
export function adoptLegacyHome(user: string, home: string, logDir: string | undefined, log: Logger, legacyRoot = legacyHomeRoot()): Promise<void> {
  const key = home;
  const prev = moving.get(key) ?? Promise.resolve();
  const next = prev.then(() => adopt(user, home, logDir, log, legacyRoot)).finally(() => {
    if (moving.get(key) === next) moving.delete(key);
  });
  moving.set(key, next);
  return next;
}

async function adopt(user: string, home: string, logDir: string | undefined, log: Logger, legacyRoot: string): Promise<void> {
  const uid = process.getuid?.() ?? -1;
  const old = join(legacyRoot, safeComponent(user));
  if (!logDir || resolve(old) === resolve(home)) return;
  try {
    await fsp.lstat(home);
    return; // the new home exists: nothing to move, never merge
  } catch {
    /* not there yet */
  }
  if (!(await ownedRealDir(legacyRoot, uid)) || !(await ownedRealDir(old, uid))) return;
  if (!(await hubRanUser(logDir, user))) {
    log.info({ old }, 'a home of this name exists in the old shared folder but this hub never ran this user there; left alone');
    return;
  }
  try {
    await fsp.mkdir(join(home, '..'), { recursive: true, mode: 0o700 });
    try {
      await fsp.rename(old, home);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
      await fsp.cp(old, home, {
        recursive: true,
        dereference: false,
        verbatimSymlinks: true,
        preserveTimestamps: true,
        errorOnExist: true,
        force: false,
        mode: constants.COPYFILE_EXCL,
        filter: async (src) => {
          const st = await fsp.lstat(src);
          return st.isDirectory() || st.isFile() || st.isSymbolicLink();
        },
      });
      await fsp.rm(old, { recursive: true, force: true });
    }
    await fsp.chmod(home, 0o700);
    log.warn({ from: old, to: home }, 'moved this user\'s home out of the old shared temporary folder (upgrade)');
  } catch (err) {
    log.error({ from: old, to: home, err: (err as Error).message }, 'could not move the old home; it is left where it was and a new home is used');
  }
}
