/**
 * The state dir holds the database (users, token hashes, encrypted auth_state) and the secret
 * files; nobody but the hub's own account may read them. Modes are set explicitly with chmod
 * because `mode` on mkdir/open is filtered through the umask in one direction only, and an
 * install made by an older version (or by hand) may already have looser modes: every start
 * tightens what is there.
 */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';

export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/** Create `dir` (and parents) if missing, and make `dir` itself 0700 either way. */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  setMode(dir, PRIVATE_DIR_MODE);
}

/** Make an existing file 0600; a missing file is fine (it is created private later). */
export function tightenFile(file: string): void {
  setMode(file, PRIVATE_FILE_MODE);
}

/**
 * chmod only when needed, so that a correctly private file owned by another account (a state dir
 * prepared by an admin) does not stop the hub; a loose one that cannot be fixed stops it with a
 * message that says how to fix it.
 */
function setMode(path: string, mode: number): void {
  let st;
  try {
    st = statSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if ((st.mode & 0o777) === mode) return;
  try {
    chmodSync(path, mode);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(
      `${path} has mode ${(st.mode & 0o777).toString(8).padStart(4, '0')} and cannot be made ${mode.toString(8).padStart(4, '0')} (${code}); ` +
        `run: chmod ${mode.toString(8)} ${path}`,
    );
  }
}

/**
 * Create `file` empty and 0600 if it does not exist, so a library that creates it with its own
 * default mode (SQLite: 0644 minus umask) finds it already private.
 */
export function createPrivateFile(file: string): void {
  if (!existsSync(file)) closeSync(openSync(file, 'a', PRIVATE_FILE_MODE));
  tightenFile(file);
}
