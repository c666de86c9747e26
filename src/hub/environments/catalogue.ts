/**
 * The environment catalogue: environments (image, resources, mounts, a description) that admins
 * or teaching staff define for groups and users, optionally only inside a time window (a course's
 * weeks). One module holds the table access, the validation of a definition, and the rule of who
 * is offered what now; the spawn path (manager.parseOptions) and the pages both ask it.
 */
import { Value } from '@sinclair/typebox/value';
import type { Db } from '../db/index.js';
import { now } from '../db/index.js';
import { atriumError } from '../errors.js';
import { parseImageRef } from '../images/refs.js';
import { isValidServerName, SERVER_NAME_RULE, userNameProblem } from '../../shared/names.js';
import { parseSize } from '../../shared/units.js';
import { SwarmMount } from '../../spawners/swarm/options.js';
import { parseConstraint } from '../../spawners/swarm/constraints.js';

export interface Environment {
  name: string;
  description: string;
  image: string;
  cpu: number | null;
  memory: string | null;
  mounts: SwarmMount[];
  /** Swarm placement constraints added to the admin's (only administrators set them). */
  constraints: string[];
  groups: string[];
  users: string[];
  startsAt: string | null;
  endsAt: string | null;
  createdBy: string;
  updated: string;
}

interface Row {
  name: string; description: string; image: string; cpu: number | null; memory: string | null; mounts: string; constraints: string;
  groups: string; users: string; starts_at: string | null; ends_at: string | null; created_by: string; updated: string;
}

const fromRow = (r: Row): Environment => ({
  name: r.name,
  description: r.description,
  image: r.image,
  cpu: r.cpu,
  memory: r.memory,
  mounts: JSON.parse(r.mounts) as SwarmMount[],
  constraints: JSON.parse(r.constraints ?? '[]') as string[],
  groups: JSON.parse(r.groups) as string[],
  users: JSON.parse(r.users) as string[],
  startsAt: r.starts_at,
  endsAt: r.ends_at,
  createdBy: r.created_by,
  updated: r.updated,
});

const bad = (msg: string) => atriumError('ATRIUM_ERR_ENV_INVALID', msg);

function isoOrNull(v: unknown, field: string): string | null {
  if (v === undefined || v === null || v === '') return null;
  if (typeof v !== 'string' || Number.isNaN(Date.parse(v))) throw bad(`${field}: must be an ISO 8601 time like 2026-09-01T08:00:00Z`);
  return new Date(Date.parse(v)).toISOString();
}

function names(v: unknown, field: string, check: (n: string) => string | null): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw bad(`${field}: must be a list of names`);
  for (const n of v as string[]) {
    const problem = check(n);
    if (problem) throw bad(`${field}: "${n.slice(0, 60)}": ${problem}`);
  }
  return [...new Set(v as string[])];
}

/**
 * A full definition from an API body or a form, checked field by field. `mayBind` is false for
 * teaching staff: a bind mount reaches the node's file system, so only admins may define one.
 */
export function checkDefinition(input: Record<string, unknown>, opts: { mayBind: boolean; base?: Environment }): Omit<Environment, 'createdBy' | 'updated'> {
  const b = opts.base;
  const pick = (k: string, fallback: unknown) => (k in input ? input[k] : fallback);
  const name = pick('name', b?.name);
  if (typeof name !== 'string' || !isValidServerName(name)) throw bad(`name: ${SERVER_NAME_RULE.replace('server name', 'environment name')}`);
  const description = pick('description', b?.description ?? '');
  if (typeof description !== 'string' || description.length > 500) throw bad('description: must be text of at most 500 characters');
  const imageIn = pick('image', b?.image);
  let image: string;
  try {
    image = parseImageRef(imageIn).ref;
  } catch (err) {
    throw bad(`image: ${(err as Error).message}`);
  }
  const cpuIn = pick('cpu', b?.cpu ?? null);
  const cpu = cpuIn === null || cpuIn === '' ? null : Number(cpuIn);
  if (cpu !== null && (!Number.isFinite(cpu) || cpu <= 0 || cpu > 1024)) throw bad('cpu: must be a positive number of cores');
  const memIn = pick('memory', b?.memory ?? null);
  let memory: string | null = null;
  if (memIn !== null && memIn !== '') {
    try {
      if (typeof memIn !== 'string' && typeof memIn !== 'number') throw new Error();
      if (parseSize(memIn) <= 0) throw new Error();
      memory = String(memIn);
    } catch {
      throw bad('memory: must be a size like 2G');
    }
  }
  const mountsIn = pick('mounts', b?.mounts ?? []);
  if (!Array.isArray(mountsIn)) throw bad('mounts: must be a list');
  const mounts = mountsIn.map((m, i) => {
    const withDefaults = Value.Default(SwarmMount, structuredClone(m)) as unknown;
    if (!Value.Check(SwarmMount, withDefaults)) throw bad(`mounts[${i}]: not a valid mount (type bind, volume, tmpfs or sshfs with its fields)`);
    const mount = withDefaults as SwarmMount;
    if (mount.type === 'bind' && !opts.mayBind) throw bad(`mounts[${i}]: only administrators may define bind mounts`);
    return mount;
  });
  const constraints = placementConstraints(pick('constraints', b?.constraints ?? []), b?.constraints ?? [], opts.mayBind);
  const groups = names(pick('groups', b?.groups), 'groups', (n) => (n && n.length <= 255 && !/[\s/\\%]/.test(n) ? null : 'not a group name'));
  const users = names(pick('users', b?.users), 'users', userNameProblem);
  const startsAt = isoOrNull(pick('startsAt', b?.startsAt), 'startsAt');
  const endsAt = isoOrNull(pick('endsAt', b?.endsAt), 'endsAt');
  if (startsAt && endsAt && endsAt <= startsAt) throw bad('endsAt: must be after startsAt');
  return { name, description, image, cpu, memory, mounts, constraints, groups, users, startsAt, endsAt };
}

/**
 * An environment's placement constraints: Swarm syntax the engine accepts, at most 16. Only
 * administrators may change them (`mayBind`): they decide which nodes a course may occupy, e.g.
 * the GPU nodes; staff may keep what an administrator set.
 */
function placementConstraints(v: unknown, before: string[], admin: boolean): string[] {
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw bad('constraints: must be a list of Swarm placement constraints like node.labels.gpu==true');
  const list = (v as string[]).map((x) => x.trim());
  if (list.length > 16) throw bad('constraints: at most 16');
  for (const c of list) {
    const p = parseConstraint(c);
    if ('problem' in p) throw bad(`constraints: "${c.slice(0, 80)}": ${p.problem}`);
  }
  if (!admin && JSON.stringify(list) !== JSON.stringify(before)) throw bad('constraints: only administrators may set placement constraints');
  return list;
}

/** Offered to this user now? Listed by name or through a group, and inside the window. */
export function isOffered(env: Environment, user: { name: string; groups: string[] }, at = Date.now()): boolean {
  const listed = env.users.includes(user.name) || env.groups.some((g) => user.groups.includes(g));
  if (!listed) return false;
  if (env.startsAt && at < Date.parse(env.startsAt)) return false;
  if (env.endsAt && at >= Date.parse(env.endsAt)) return false;
  return true;
}

export class EnvironmentStore {
  constructor(private readonly db: Db) {}

  list(): Environment[] {
    return (this.db.prepare('SELECT * FROM environments ORDER BY name').all() as Row[]).map(fromRow);
  }

  get(name: string): Environment | null {
    const r = this.db.prepare('SELECT * FROM environments WHERE name = ?').get(name) as Row | undefined;
    return r ? fromRow(r) : null;
  }

  offeredTo(user: { name: string; groups: string[] }, at = Date.now()): Environment[] {
    return this.list().filter((e) => isOffered(e, user, at));
  }

  create(def: Omit<Environment, 'createdBy' | 'updated'>, by: string): Environment {
    if (this.get(def.name)) throw atriumError('ATRIUM_ERR_ENV_EXISTS', `An environment named ${def.name} exists`);
    this.db.prepare(`INSERT INTO environments (name, description, image, cpu, memory, mounts, constraints, groups, users, starts_at, ends_at, created_by, updated)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(
      def.name, def.description, def.image, def.cpu, def.memory, JSON.stringify(def.mounts), JSON.stringify(def.constraints), JSON.stringify(def.groups),
      JSON.stringify(def.users), def.startsAt, def.endsAt, by, now(),
    );
    return this.get(def.name)!;
  }

  replace(oldName: string, def: Omit<Environment, 'createdBy' | 'updated'>): Environment {
    if (def.name !== oldName && this.get(def.name)) throw atriumError('ATRIUM_ERR_ENV_EXISTS', `An environment named ${def.name} exists`);
    this.db.prepare(`UPDATE environments SET name = ?, description = ?, image = ?, cpu = ?, memory = ?, mounts = ?, constraints = ?, groups = ?, users = ?,
      starts_at = ?, ends_at = ?, updated = ? WHERE name = ?`).run(
      def.name, def.description, def.image, def.cpu, def.memory, JSON.stringify(def.mounts), JSON.stringify(def.constraints), JSON.stringify(def.groups),
      JSON.stringify(def.users), def.startsAt, def.endsAt, now(), oldName,
    );
    return this.get(def.name)!;
  }

  delete(name: string): boolean {
    return this.db.prepare('DELETE FROM environments WHERE name = ?').run(name).changes > 0;
  }
}

const stores = new WeakMap<Db, EnvironmentStore>();
/** One store per database (the hub has one; tests open several). */
export function environmentsOf(db: Db): EnvironmentStore {
  let s = stores.get(db);
  if (!s) stores.set(db, (s = new EnvironmentStore(db)));
  return s;
}
