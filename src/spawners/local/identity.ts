/**
 * Who a local server runs as, and its USER/HOME/SHELL.
 *
 * runAs 'hub': the hub's own Unix user; HOME is homeTemplate or <homeRoot>/<user> (homes.ts).
 * runAs 'system-user': uid/gid from NB_UID/NB_GID (set by a pre-spawn hook, e.g. from LDAP),
 * else the Unix account named like the Atrium user (getent passwd, so NSS/LDAP/sssd accounts
 * work too). Needs a root hub. uid 0 is refused: an Atrium user called "root" (or a hook bug)
 * must never yield a root notebook.
 */
import { execFile } from 'node:child_process';
import { fillNames } from '../../shared/name-template.js';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { SpawnError } from '../spawner.js';
import type { Logger } from 'pino';
import { ensureDir, safeComponent } from './files.js';
import { adoptLegacyHome, homeRootFor } from './homes.js';
import type { LocalSpawnerOptions } from './options.js';

export interface RunIdentity {
  /** null: do not switch user (runAs 'hub'). */
  uid: number | null;
  gid: number | null;
  /** The uid the process will end up with (for --allow-root). */
  effectiveUid: number;
  /** The account exists in passwd, so supplementary groups can be taken from it. */
  hasAccount: boolean;
  user: string;
  home: string;
  shell: string;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

/** POSIX-ish account names; also keeps all-digit names from being looked up as a uid. */
const UNIX_NAME = /^[a-z_][a-z0-9_.-]{0,31}\$?$/i;

function getent(name: string): Promise<PasswdEntry | null> {
  return new Promise((resolve, reject) => {
    execFile('getent', ['passwd', name], { timeout: 10_000 }, (err, stdout) => {
      // Exit status 2 = no such key; anything else unexpected is a real failure.
      if (err) {
        if ((err as { code?: unknown }).code === 2) return resolve(null);
        return reject(new SpawnError('Cannot look up the system account', `getent passwd ${name}: ${err.message}`));
      }
      const f = stdout.trim().split('\n')[0]?.split(':') ?? [];
      if (f.length < 7) return resolve(null);
      resolve({ name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), home: f[5]!, shell: f[6]! });
    });
  });
}

function parseId(value: string | undefined, key: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (!/^\d+$/.test(value)) throw new SpawnError('Invalid account settings for this server', `${key}=${JSON.stringify(value)} is not a number`);
  return Number(value);
}

function fillTemplate(template: string, userName: string): string {
  if (userName.includes('/') || userName === '.' || userName === '..' || userName.includes('\0')) {
    throw new SpawnError('This user name cannot be used for a home directory', `user name ${JSON.stringify(userName)}`);
  }
  return fillNames(template, { username: userName });
}

export async function resolveIdentity(
  options: LocalSpawnerOptions,
  userName: string,
  env: Record<string, string>,
  where: { stateDir?: string; logDir?: string; log?: Logger } = {},
): Promise<RunIdentity> {
  const hubUid = process.getuid?.() ?? -1;
  if (options.runAs === 'hub') {
    const templated = options.homeTemplate !== '';
    const root = homeRootFor(options.homeRoot, where.stateDir);
    const home = templated ? fillTemplate(options.homeTemplate, userName) : join(root, safeComponent(userName));
    if (!templated) {
      await ensureDir(root, true);
      if (where.log) await adoptLegacyHome(userName, home, where.logDir, where.log);
    }
    await ensureDir(home, !templated);
    return { uid: null, gid: null, effectiveUid: hubUid, hasAccount: false, user: userName, home, shell: '/bin/bash' };
  }

  if (hubUid !== 0) {
    throw new SpawnError('This hub cannot start servers as system users', `runAs: system-user needs the hub to run as root (it runs as uid ${hubUid})`);
  }
  const nbUid = parseId(env.NB_UID, 'NB_UID');
  const nbGid = parseId(env.NB_GID, 'NB_GID');
  const entry = UNIX_NAME.test(userName) ? await getent(userName) : null;
  if (nbUid === undefined && !entry) {
    throw new SpawnError(
      `No system account for user ${userName}`,
      UNIX_NAME.test(userName)
        ? `getent passwd ${userName} found nothing and no pre-spawn hook set NB_UID`
        : `${JSON.stringify(userName)} is not a valid Unix account name and no pre-spawn hook set NB_UID`,
    );
  }
  const uid = nbUid ?? entry!.uid;
  const gid = nbGid ?? (entry && entry.uid === uid ? entry.gid : uid);
  if (uid === 0 || gid === 0) {
    throw new SpawnError('Servers are never started as root', `refusing uid ${uid} gid ${gid} for user ${userName}`);
  }
  // homeRoot, when configured, replaces the account's home: <homeRoot>/<user>, 0700, the user's.
  // The root folder itself must be a real directory the servers can pass through (0755, ours).
  let home: string;
  if (options.homeTemplate) home = fillTemplate(options.homeTemplate, userName);
  else if (options.homeRoot) {
    const root = homeRootFor(options.homeRoot, where.stateDir);
    await ensureDir(root, true);
    await fsp.chmod(root, 0o755);
    home = join(root, safeComponent(userName));
  } else home = entry?.home || `/home/${safeComponent(userName)}`;
  await ensureUserHome(home, uid, gid);
  return {
    uid,
    gid,
    effectiveUid: uid,
    // Only take supplementary groups from passwd when it describes the same uid we run as.
    hasAccount: !!entry && entry.uid === uid,
    user: entry?.name ?? userName,
    home,
    shell: entry?.shell || '/bin/bash',
  };
}

/** Create a missing home (0700, owned by the user); an existing one is left as it is. */
async function ensureUserHome(home: string, uid: number, gid: number): Promise<void> {
  try {
    await fsp.stat(home);
    return;
  } catch {
    /* create below */
  }
  try {
    await fsp.mkdir(home, { recursive: true, mode: 0o700 });
    await fsp.chown(home, uid, gid);
  } catch (err) {
    throw new SpawnError('Cannot create the home directory', `${home}: ${(err as Error).message}`);
  }
}
