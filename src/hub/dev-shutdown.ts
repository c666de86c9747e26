/**
 * `atrium hub --dev` (scripts/dev): one developer on one machine wants Ctrl-C to leave nothing
 * behind — no user server still running, no proxy answering 503 for a hub that is gone. So in
 * that mode a shutdown ends pending spawns, stops every running server (as a user's Stop would:
 * route, spawner, token, hooks), closes the hub and then stops the child proxy.
 * Production shutdowns never come here: there the proxy and the servers outlive the hub.
 */
import type { RunningHub } from './start.js';

export async function stopEverything(running: RunningHub, signal: string): Promise<void> {
  const { hub } = running;
  const log = hub.log.child({ component: 'dev-shutdown' });
  const all = [...hub.spawns.active.values()];
  log.info({ signal, servers: all.length }, 'development mode: stopping every user server, the hub and the proxy');
  const results = await Promise.allSettled(
    all.map(async (a) => {
      if (a.phase === 'spawn') {
        // The spawn's own failure path removes whatever the spawner made so far.
        a.abort.abort(new Error('the hub is shutting down (development mode)'));
        await a.done;
      }
      if (a.phase === 'stop') return a.done;
      if (hub.spawns.active.get(a.key) !== a) return;
      const user = hub.stores.users.getById(a.userId);
      if (!user) return;
      if ((await hub.spawns.stop(user, a.serverName)) === 'pending') await a.done;
    }),
  );
  for (const r of results) if (r.status === 'rejected') log.error({ err: String(r.reason) }, 'a server could not be stopped');
  await running.close({ proxyFollows: true });
  await running.proxyProcess?.stop();
  log.info('development mode: everything stopped');
}
