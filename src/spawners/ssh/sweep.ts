/**
 * The crash-safety sweep of the SSH kind: on every configured host, the process-group leaders
 * whose environment carries an owner tag of this hub. Reading other users' environments needs
 * the admin prefix (root). A host that cannot be reached is logged and skipped: its servers are
 * still covered by the handles in the database (spawner.ts "Crash safety", step 4).
 */
import type { Logger } from 'pino';
import type { OwnedObject } from '../spawner.js';
import { connectionFor } from '../../shared/ssh/connection-pool.js';
import type { SshSpawnerOptions } from './options.js';
import { controlCommand } from './remote-scripts.js';

export async function sweepSsh(options: SshSpawnerOptions, ownerPrefix: string, log: Logger): Promise<OwnedObject[]> {
  if (options.login !== 'admin-sudo') {
    // No login sees every user's processes: the database handles (recorded before the launcher
    // runs, found again by tag through the user's own login) cover the servers.
    log.info(`ssh sweep skipped: login is ${options.login} (no admin login on the hosts); servers are restored from the database records`);
    return [];
  }
  const perHost = await Promise.all(
    options.hosts.map(async (host) => {
      try {
        const res = await connectionFor(host, options, log).exec(controlCommand(options.adminPrefix, options.python, ['sweep', ownerPrefix]));
        if (res.code !== 0) throw new Error(res.stderr.trim().split('\n').pop() ?? `exit ${res.code}`);
        return res.stdout
          .split('\n')
          .filter((l) => l.trim())
          .map((l) => JSON.parse(l) as { pgid: number; tag: string; user: string; data?: string | null })
          .map((p) => ({ ...p, data: ownMount(options, p.user, p.data) }))
          .map((p): OwnedObject => ({
            tag: p.tag,
            // dataMount: stopping an orphan also unmounts its data (restore() accepts only a path
            // under dataMount.root), instead of leaving it to that user's next start on the host.
            state: { host: host.name, remoteUser: p.user, tag: p.tag, pgid: p.pgid, ...(p.data ? { dataMount: p.data } : {}) },
            description: `process group ${p.pgid} of ${p.user} on ${host.name}${p.data ? ` (data mount ${p.data})` : ''}`,
          }));
      } catch (err) {
        log.warn({ host: host.name, err: (err as Error).message }, 'ssh sweep: host skipped; its servers are restored from the database only');
        return [];
      }
    }),
  );
  return perHost.flat();
}

/**
 * The data mount an orphan's environment names, if it is one of that process owner's own mount
 * points (<root>/<owner>/<server>): the environment is the user's to rewrite, the owner (from
 * the process's uid) is not, so a server cannot get another user's mount unmounted.
 */
function ownMount(options: SshSpawnerOptions, owner: string, data: string | null | undefined): string | null {
  const root = options.dataMount?.root.replace(/\/+$/, '');
  if (!root || !data) return null;
  const rest = data.startsWith(`${root}/${owner}/`) ? data.slice(root.length + owner.length + 2) : '';
  return /^[A-Za-z0-9_.-]+$/.test(rest) && rest !== '.' && rest !== '..' ? data : null;
}
