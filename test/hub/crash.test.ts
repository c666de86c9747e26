/**
 * kill -9 of the hub at any moment leaves no orphan and no duplicate server (local spawner).
 * A real hub process, the real atrium-proxy, the node stub as the single-user server. For each
 * kill point: 30 users start at once, the hub is SIGKILLed that long after the requests went
 * out, started again and allowed to settle (the first API call waits for the restore). Then no
 * live server process may lack a running record, no user may have two, every recorded server
 * answers through the proxy, and starting everyone again gives nobody a second process.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { hubProcess, type HubProcess } from './hub-process.js';
import { waitFor } from './harness.js';
import { allReady, answersThroughProxy, census, killAllServers, liveServers, restoreOfStart } from './crash-probe.js';

const USERS = 30;
let hp: HubProcess | null = null;

afterEach(async () => {
  if (!hp) return;
  killAllServers(hp.hubUrl);
  await hp.teardown();
  hp = null;
});

async function startHubWithUsers(names: string[]): Promise<{ hp: HubProcess; admin: string }> {
  const h = await hubProcess({ spawner: { slowSpawnTimeoutSeconds: 1 } });
  hp = h;
  await h.start();
  const admin = h.token('admin');
  const r = await h.api('POST', '/users', { token: admin, body: { usernames: names } });
  expect(r.status).toBe(201);
  return { hp: h, admin };
}

/** Fire without waiting; a request cut off by the kill is expected. */
function requestStart(h: HubProcess, admin: string, user: string): Promise<number> {
  return h.api('POST', `/users/${user}/server`, { token: admin }).then(
    async (r) => {
      await r.arrayBuffer();
      return r.status;
    },
    () => 0,
  );
}

/** After a restart: settled means the API answered (it waits for the restore). */
async function checkSettled(h: HubProcess, admin: string, label: string) {
  const r = await h.api('GET', '/users', { token: admin });
  expect(r.status).toBe(200);
  const db = h.db();
  let c;
  try {
    c = census(h.hubUrl, db);
  } finally {
    db.close();
  }
  const rl = await restoreOfStart(() => h.output(), 2);
  const ms = rl.ms;
  console.log(
    `[measure] ${label}: after restore live ${c.live}, recorded running ${c.running}, orphans ${c.orphans.length}, duplicates ${c.duplicates.length}; ` +
      `restore adopted ${rl.restored}, stopped ${rl.stopped} rows + ${rl.orphansStopped} unowned, ${ms} ms`,
  );
  expect(c.orphans).toEqual([]);
  expect(c.duplicates).toEqual([]);
  expect(c.live).toBe(c.running);
  const users = (await (await h.api('GET', '/users', { token: admin })).json()) as { name: string; servers: Record<string, { ready: boolean }> }[];
  for (const u of users) {
    if (u.servers['']?.ready) await waitFor(() => answersThroughProxy(h, u.name), 10_000, 100);
  }
  return { ...c, ms };
}

describe('hub killed with -9 during a 30-spawn storm', () => {
  // -1: once every server is ready; -2: the moment the first server process exists (the window
  // between fork and the recorded handle, and spawns still in their intent phase).
  for (const killAfterMs of [50, -2, 1500, -1]) {
    const label = killAfterMs === -1 ? 'kill after all ready' : killAfterMs === -2 ? 'kill at the first process' : `kill at ${killAfterMs} ms`;
    it(`${label}: no orphan, no duplicate; starting everyone again gives nobody a second process`, async () => {
      const names = Array.from({ length: USERS }, (_, i) => `storm${i}`);
      const { hp: h, admin } = await startHubWithUsers(names);
      const requests = names.map((n) => requestStart(h, admin, n));
      if (killAfterMs === -1) {
        await Promise.all(requests);
        await waitFor(() => allReady(h, admin, names), 60_000, 200);
      } else if (killAfterMs === -2) {
        await waitFor(() => liveServers(h.hubUrl).length > 0, 30_000, 5);
      } else {
        await new Promise((r) => setTimeout(r, killAfterMs));
      }
      await h.kill('SIGKILL');
      await Promise.all(requests);
      const before = liveServers(h.hubUrl).length;

      await h.start();
      const after = await checkSettled(h, admin, `${label} (live before restart ${before})`);
      if (killAfterMs === -1) expect(after.running).toBe(USERS);

      // Everyone starts again: those running get 400, the others a fresh single process.
      const codes = await Promise.all(names.map((n) => requestStart(h, admin, n)));
      for (const c of codes) expect([201, 202, 400]).toContain(c);
      await waitFor(() => allReady(h, admin, names), 60_000, 200);
      const db = h.db();
      try {
        const c = census(h.hubUrl, db);
        expect(c.orphans).toEqual([]);
        expect(c.duplicates).toEqual([]);
        expect(c.live).toBe(USERS);
        expect(c.running).toBe(USERS);
      } finally {
        db.close();
      }
      for (const n of names) expect(await answersThroughProxy(h, n)).toBe(true);
    }, 180_000);
  }
});
