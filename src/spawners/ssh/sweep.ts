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
  if (options.login === 'user-key') {
    // No login sees every user's processes: the database handles (recorded before the launcher
    // runs, found again by tag through the user's own login) cover the servers.
    log.info('ssh sweep skipped: login is user-key (no admin login on the hosts); servers are restored from the database records');
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
          .map((l) => JSON.parse(l) as { pgid: number; tag: string; user: string })
          .map((p): OwnedObject => ({
            tag: p.tag,
            state: { host: host.name, remoteUser: p.user, tag: p.tag, pgid: p.pgid },
            description: `process group ${p.pgid} of ${p.user} on ${host.name}`,
          }));
      } catch (err) {
        log.warn({ host: host.name, err: (err as Error).message }, 'ssh sweep: host skipped; its servers are restored from the database only');
        return [];
      }
    }),
  );
  return perHost.flat();
}
