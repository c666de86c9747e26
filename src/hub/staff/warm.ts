/**
 * Warm servers for class start: staff schedule "start servers for group G at 10:55"; at that
 * time the hub starts the default server of every member who has none, through the normal spawn
 * path (so the concurrent/active limits apply and refusals are recorded), and later stops each
 * warm server nobody used within staff.warmUnusedStopSeconds. "Used" means the student came to
 * the hub after the start (logged in, or opened a server through OAuth), or the server itself
 * reported activity well after it started (a notebook reports activity right at start, so that
 * alone is not use).
 */
import type { HubContext } from '../context.js';
import { now } from '../db/index.js';
import { atriumError } from '../errors.js';
import { environmentsOf } from '../environments/catalogue.js';

export interface WarmStart {
  id: number;
  group: string;
  at: string;
  environment: string | null;
  createdBy: string;
  status: 'scheduled' | 'started' | 'done' | 'cancelled';
  /** Users whose server this warm start started, with what became of it. */
  started: { user: string; startedAt: string; state: 'warm' | 'used' | 'stopped-unused' | 'refused'; note?: string }[];
  note: string;
}

interface Row { id: number; group_name: string; at: string; environment: string | null; created_by: string; status: WarmStart['status']; started: string; note: string }

const fromRow = (r: Row): WarmStart => ({
  id: r.id, group: r.group_name, at: r.at, environment: r.environment, createdBy: r.created_by, status: r.status,
  started: JSON.parse(r.started) as WarmStart['started'], note: r.note,
});

/** Server activity this long after the warm start counts as use (see the module comment). */
const SERVER_ACTIVITY_SLACK_MS = 120_000;

export class WarmScheduler {
  private timer: NodeJS.Timeout | null = null;
  private running = false;

  constructor(private readonly hub: HubContext) {}

  list(groups?: string[]): WarmStart[] {
    const rows = (this.hub.stores.db.prepare('SELECT * FROM warm_starts ORDER BY at DESC, id DESC LIMIT 200').all() as Row[]).map(fromRow);
    return groups ? rows.filter((w) => groups.includes(w.group)) : rows;
  }

  get(id: number): WarmStart | null {
    const r = this.hub.stores.db.prepare('SELECT * FROM warm_starts WHERE id = ?').get(id) as Row | undefined;
    return r ? fromRow(r) : null;
  }

  schedule(input: { group: unknown; at: unknown; environment?: unknown }, by: string): WarmStart {
    const bad = (m: string) => atriumError('ATRIUM_ERR_WARM_INVALID', m);
    if (typeof input.group !== 'string' || !input.group) throw bad('group: name the course group');
    if (!this.hub.stores.groups.get(input.group)) throw bad(`group: there is no group "${input.group.slice(0, 60)}"`);
    if (typeof input.at !== 'string' || Number.isNaN(Date.parse(input.at))) throw bad('at: must be an ISO 8601 time like 2026-12-01T10:55:00Z');
    let environment: string | null = null;
    if (input.environment !== undefined && input.environment !== null && input.environment !== '') {
      if (typeof input.environment !== 'string' || !environmentsOf(this.hub.stores.db).get(input.environment)) throw bad('environment: no such environment');
      environment = input.environment;
    }
    const at = new Date(Date.parse(input.at)).toISOString();
    const id = Number(this.hub.stores.db.prepare('INSERT INTO warm_starts (group_name, at, environment, created_by) VALUES (?, ?, ?, ?)')
      .run(input.group, at, environment, by).lastInsertRowid);
    this.hub.log.info({ by, group: input.group, at, environment }, 'warm start scheduled');
    return this.get(id)!;
  }

  cancel(id: number): void {
    this.hub.stores.db.prepare("UPDATE warm_starts SET status = 'cancelled' WHERE id = ? AND status = 'scheduled'").run(id);
  }

  startTimer(intervalMs: number): void {
    this.timer = setInterval(() => void this.tick(), intervalMs);
    this.timer.unref();
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private save(w: WarmStart): void {
    this.hub.stores.db.prepare('UPDATE warm_starts SET status = ?, started = ?, note = ? WHERE id = ?').run(w.status, JSON.stringify(w.started), w.note, w.id);
  }

  /** One pass: start what is due, stop what went unused. Never overlaps itself. */
  async tick(at = Date.now()): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      const iso = new Date(at).toISOString();
      const due = (this.hub.stores.db.prepare("SELECT * FROM warm_starts WHERE status = 'scheduled' AND at <= ?").all(iso) as Row[]).map(fromRow);
      for (const w of due) await this.start(w);
      const live = (this.hub.stores.db.prepare("SELECT * FROM warm_starts WHERE status = 'started'").all() as Row[]).map(fromRow);
      for (const w of live) await this.sweep(w, at);
    } catch (err) {
      this.hub.log.warn({ err }, 'warm starts: pass failed; trying again next interval');
    } finally {
      this.running = false;
    }
  }

  private async start(w: WarmStart): Promise<void> {
    const hub = this.hub;
    const group = hub.stores.groups.get(w.group);
    const members = group ? hub.stores.groups.members(group.id) : [];
    w.status = 'started';
    this.save(w);
    await Promise.all(members.map(async (name) => {
      const user = hub.stores.users.get(name);
      if (!user || hub.spawns.get(name, '')) return; // already running or starting: not ours to stop
      const startedAt = now();
      try {
        const options = w.environment ? hub.spawns.parseOptions(user, { environment: w.environment }) : null;
        w.started.push({ user: name, startedAt, state: 'warm' });
        this.save(w);
        await hub.spawns.spawn(user, '', options);
      } catch (err) {
        const entry = w.started.find((s) => s.user === name) ?? { user: name, startedAt, state: 'refused' as const };
        entry.state = 'refused';
        entry.note = (err as Error).message;
        if (!w.started.includes(entry)) w.started.push(entry);
        this.save(w);
      }
    }));
    w.note = `${w.started.filter((s) => s.state === 'warm').length} of ${members.length} members started`;
    this.save(w);
    hub.log.info({ group: w.group, started: w.started.length, members: members.length }, 'warm start ran');
  }

  /**
   * Did the student come after the warm start: a login, or an OAuth token for one of their
   * servers (they opened it)? The user's activity field is no signal: the server itself reports
   * activity for the user right after it starts.
   */
  private cameAfter(userId: number, since: string): boolean {
    const db = this.hub.stores.db;
    return Boolean(
      db.prepare('SELECT 1 FROM sessions WHERE user_id = ? AND created > ? LIMIT 1').get(userId, since)
      || db.prepare("SELECT 1 FROM api_tokens WHERE user_id = ? AND client_id != 'jupyterhub' AND created > ? LIMIT 1").get(userId, since),
    );
  }

  private async sweep(w: WarmStart, at: number): Promise<void> {
    const hub = this.hub;
    const limitMs = (hub.config.staff?.warmUnusedStopSeconds ?? 1800) * 1000;
    let open = 0;
    for (const s of w.started) {
      if (s.state !== 'warm') continue;
      const user = hub.stores.users.get(s.user);
      const row = user ? hub.stores.servers.get(user.id, '') : undefined;
      const t0 = Date.parse(s.startedAt);
      const used = (user && this.cameAfter(user.id, s.startedAt))
        || (row?.last_activity && Date.parse(row.last_activity) > t0 + SERVER_ACTIVITY_SLACK_MS);
      if (used) { s.state = 'used'; continue; }
      if (!user || !hub.spawns.get(s.user, '')) { s.state = 'stopped-unused'; s.note = 'stopped by someone else'; continue; }
      if (limitMs > 0 && at - t0 >= limitMs) {
        await hub.spawns.stop(user, '').catch(() => undefined);
        s.state = 'stopped-unused';
        hub.log.info({ user: s.user, group: w.group }, 'warm server unused: stopped');
        continue;
      }
      open++;
    }
    if (open === 0) w.status = 'done';
    this.save(w);
  }
}

const schedulers = new WeakMap<HubContext, WarmScheduler>();
export function warmOf(hub: HubContext): WarmScheduler {
  let s = schedulers.get(hub);
  if (!s) schedulers.set(hub, (s = new WarmScheduler(hub)));
  return s;
}
