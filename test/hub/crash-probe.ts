/**
 * What actually runs, independent of what the hub believes: the live user-server processes a
 * hub started, found through /proc by the hub API URL every server gets in its environment
 * (JUPYTERHUB_API_URL names this hub's own port), not by the owner marker under test. Used by
 * the crash tests to count orphans (alive, not recorded as running) and duplicates (two live
 * processes for one user/server).
 */
import { readdirSync, readFileSync } from 'node:fs';
import type Database from 'better-sqlite3';
import { expect } from 'vitest';
import { killGroup, type HubProcess } from './hub-process.js';
import { waitFor } from './harness.js';

export interface LiveServer {
  pid: number;
  user: string;
  server: string;
}

function envOf(pid: number): Map<string, string> | null {
  try {
    const m = new Map<string, string>();
    for (const kv of readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0')) {
      const i = kv.indexOf('=');
      if (i > 0) m.set(kv.slice(0, i), kv.slice(i + 1));
    }
    return m;
  } catch {
    return null;
  }
}

/** Live process-group leaders whose environment points at the hub on `hubUrl` (zombies excluded). */
export function liveServers(hubUrl: string): LiveServer[] {
  const api = `${hubUrl}/hub/api`;
  const out: LiveServer[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const pid = Number(e);
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue;
    }
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (rest[0] === 'Z' || rest[0] === 'X' || Number(rest[2]) !== pid) continue;
    const env = envOf(pid);
    if (env?.get('JUPYTERHUB_API_URL') !== api) continue;
    out.push({ pid, user: env.get('JUPYTERHUB_USER') ?? '?', server: env.get('JUPYTERHUB_SERVER_NAME') ?? '' });
  }
  return out;
}

/** user/server -> recorded pid, for rows the database says are running. */
export function recordedRunning(db: Database.Database): Map<string, number> {
  const rows = db
    .prepare("SELECT u.name AS user, s.name AS server, s.state FROM servers s JOIN users u ON u.id = s.user_id WHERE s.status = 'running'")
    .all() as { user: string; server: string; state: string }[];
  const out = new Map<string, number>();
  for (const r of rows) out.set(`${r.user}/${r.server}`, (JSON.parse(r.state) as { pid?: number }).pid ?? -1);
  return out;
}

export interface Census {
  live: number;
  running: number;
  orphans: LiveServer[];
  duplicates: string[];
}

export function census(hubUrl: string, db: Database.Database): Census {
  const live = liveServers(hubUrl);
  const running = recordedRunning(db);
  const recordedPids = new Set(running.values());
  const perKey = new Map<string, number>();
  for (const s of live) perKey.set(`${s.user}/${s.server}`, (perKey.get(`${s.user}/${s.server}`) ?? 0) + 1);
  return {
    live: live.length,
    running: running.size,
    orphans: live.filter((s) => !recordedPids.has(s.pid)),
    duplicates: [...perKey].filter(([, n]) => n > 1).map(([k]) => k),
  };
}

/** Stop every live server of this hub by PID (its group), recorded or not. */
export function killAllServers(hubUrl: string): void {
  for (const s of liveServers(hubUrl)) killGroup(s.pid);
}

export interface RestoreLine {
  restored: number;
  stopped: number;
  orphansStopped: number;
  ms: number;
}

/** Every "servers restored" log line (pino JSON) the hub printed, one per start. */
export function restoreLines(output: string): RestoreLine[] {
  const out: RestoreLine[] = [];
  for (const line of output.split('\n')) {
    if (!line.includes('servers restored from the database')) continue;
    try {
      out.push(JSON.parse(line) as RestoreLine);
    } catch {
      /* not JSON */
    }
  }
  return out;
}

/** The restore line of the `nth` hub start (1-based), once the hub's output has it. */
export async function restoreOfStart(output: () => string, nth: number): Promise<RestoreLine> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const lines = restoreLines(output());
    if (lines.length >= nth) return lines[nth - 1]!;
    if (Date.now() > deadline) throw new Error(`no restore line for start ${nth}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Orphans and duplicates among backend objects (Swarm services, Slurm jobs) listed by the test
 * itself: `handleOf` reads the object id out of a running row's spawner state.
 */
export function backendCensus(
  h: { db(): Database.Database },
  live: { id: string; user: string }[],
  handleOf: (state: Record<string, unknown>) => unknown,
  /** Row statuses that own their object: 'pending' too where the kind resumes spawns (Slurm). */
  owning: string[] = ['running'],
): { live: number; running: number; orphans: string[]; duplicates: string[] } {
  const db = h.db();
  let running: string[];
  try {
    running = (db.prepare(`SELECT state FROM servers WHERE status IN (${owning.map(() => '?').join(',')})`).all(...owning) as { state: string }[]).map((r) =>
      String(handleOf(JSON.parse(r.state) as Record<string, unknown>) ?? ''),
    );
  } finally {
    db.close();
  }
  const perUser = new Map<string, number>();
  for (const o of live) perUser.set(o.user, (perUser.get(o.user) ?? 0) + 1);
  return {
    live: live.length,
    running: running.length,
    orphans: live.filter((o) => !running.includes(o.id)).map((o) => o.id),
    duplicates: [...perUser].filter(([, n]) => n > 1).map(([u]) => u),
  };
}

/** True when every named user's default server is ready (admin token). */
export async function allReady(h: { api(m: string, p: string, o?: { token?: string }): Promise<Response> }, admin: string, names: string[]): Promise<boolean> {
  const users = (await (await h.api('GET', '/users', { token: admin })).json()) as { name: string; servers: Record<string, { ready: boolean }> }[];
  return users.filter((u) => names.includes(u.name) && u.servers['']?.ready).length === names.length;
}

/** True when /user/NAME/api/status answers 200 through the proxy. */
export async function answersThroughProxy(h: { url: string }, user: string): Promise<boolean> {
  const r = await fetch(`${h.url}/user/${user}/api/status`, { redirect: 'manual', signal: AbortSignal.timeout(3000) }).catch(() => null);
  await r?.arrayBuffer();
  return r?.status === 200;
}

type BackendCensus = { live: number; running: number; orphans: string[]; duplicates: string[] };

/**
 * GET through the hub right after a restart, as a client would: a restore slower than the
 * gate's 10 s (a loaded dockerd or slurmctld) answers 503 + Retry-After, which is allowed, so
 * wait it out (the header must be there); anything else is returned as it came.
 */
export async function getAfterRestart(h: { api(m: string, p: string, o?: { token?: string }): Promise<Response> }, path: string, token: string): Promise<Response> {
  let res = await h.api('GET', path, { token });
  for (let i = 0; res.status === 503 && i < 30; i++) {
    const retry = res.headers.get('retry-after');
    console.log(`[measure] restart: 503 (${await res.text()}), Retry-After ${retry}`);
    if (!retry) throw new Error('503 without Retry-After during the restore');
    await new Promise((r) => setTimeout(r, Number(retry) * 1000));
    res = await h.api('GET', path, { token });
  }
  return res;
}

/**
 * After a kill and restart: log the figures, require no orphan and no duplicate (and every
 * server back when all were ready), then start everyone again and require one backend object
 * per user, each answering through the proxy.
 */
export async function checkRestoredThenRestartAll(args: {
  h: HubProcess;
  label: string;
  before: number;
  allWereReady: boolean;
  admin: string;
  names: string[];
  census: () => Promise<BackendCensus>;
  fire: () => Promise<number>[];
}): Promise<void> {
  const { h, label, before, admin, names, census, fire } = args;
  const rl = await restoreOfStart(() => h.output(), 2);
  const c = await census();
  console.log(
    `[measure] ${label} (before restart ${before}): after restore ${c.live}, recorded running ${c.running}, ` +
      `orphans ${c.orphans.length}, duplicates ${c.duplicates.length}; restore adopted ${rl.restored}, stopped ${rl.stopped} rows + ${rl.orphansStopped} unowned, ${rl.ms} ms`,
  );
  expect(c.orphans).toEqual([]);
  expect(c.duplicates).toEqual([]);
  expect(c.live).toBe(c.running);
  if (args.allWereReady) expect(c.running).toBe(names.length);

  const codes = await Promise.all(fire());
  for (const code of codes) expect([201, 202, 400]).toContain(code);
  await waitFor(() => allReady(h, admin, names), 180_000, 500);
  const after = await census();
  expect(after.orphans).toEqual([]);
  expect(after.duplicates).toEqual([]);
  expect(after.live).toBe(names.length);
  for (const n of names) await waitFor(() => answersThroughProxy(h, n), 30_000, 200);
}

/**
 * The whole kill-during-a-storm scenario for a remote kind: the hub (already configured, not yet
 * started) starts, every user's server is requested at once, the hub is killed with SIGKILL at
 * `point` (the first backend object exists, or every server is ready), started again, and then
 * checkRestoredThenRestartAll runs. `objects` lists the kind's live backend objects (jobs, services).
 */
export async function killDuringStorm(args: {
  h: HubProcess;
  label: string;
  names: string[];
  point: 'first object' | 'all ready';
  objects: () => Promise<unknown[]>;
  census: () => Promise<BackendCensus>;
}): Promise<void> {
  const { h, names, point, objects } = args;
  await h.start();
  const admin = h.token('admin');
  expect((await h.api('POST', '/users', { token: admin, body: { usernames: names } })).status).toBe(201);
  const fire = () => names.map((n) => h.api('POST', `/users/${n}/server`, { token: admin }).then(async (r) => (await r.arrayBuffer(), r.status), () => 0));
  const requests = fire();
  if (point === 'all ready') {
    await Promise.all(requests);
    await waitFor(() => allReady(h, admin, names), 180_000, 500);
  } else {
    await waitFor(async () => (await objects()).length > 0, 120_000, 20);
  }
  await h.kill('SIGKILL');
  await Promise.all(requests);
  const before = (await objects()).length;

  await h.start();
  expect((await getAfterRestart(h, '/users', admin)).status).toBe(200);
  await checkRestoredThenRestartAll({ h, label: args.label, before, allWereReady: point === 'all ready', admin, names, census: args.census, fire });
}
