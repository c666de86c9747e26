/**
 * What the hub reads about the cluster besides job states: node addresses (to accept a port
 * report only from a job's own node), free resources per partition (the form's table), the
 * user's accounts and reservations. Answers are cached for `resourcesCacheSeconds` so a busy
 * spawn page does not turn into a stream of controller RPCs.
 */
import { clientEnv, parseScontrol, run } from './commands.js';
import type { SlurmSpawnerOptions } from './options.js';

const cache = new Map<string, { at: number; value: Promise<unknown>; settled?: { value: unknown } }>();

const cacheKey = (options: SlurmSpawnerOptions, key: string) => JSON.stringify([options.clientEnvironment, options.commands, key]);

function cached<T>(options: SlurmSpawnerOptions, key: string, load: () => Promise<T>): Promise<T> {
  const k = cacheKey(options, key);
  const hit = cache.get(k);
  if (hit && Date.now() - hit.at < options.resourcesCacheSeconds * 1000) return hit.value as Promise<T>;
  const value = load();
  const entry: { at: number; value: Promise<unknown>; settled?: { value: unknown } } = { at: Date.now(), value, settled: hit?.settled };
  cache.set(k, entry);
  value.then((v) => (entry.settled = { value: v }), () => cache.delete(k)); // failures are not remembered
  return value;
}

/**
 * The last known answer without waiting, refreshing it in the background (the spawn form is
 * rendered synchronously). undefined until a first answer arrived.
 */
function peek<T>(options: SlurmSpawnerOptions, key: string, load: () => Promise<T>): T | undefined {
  void cached(options, key, load).catch(() => undefined);
  return cache.get(cacheKey(options, key))?.settled?.value as T | undefined;
}

function scontrol(options: SlurmSpawnerOptions, args: string[]): Promise<string> {
  return run(options.commands.scontrol, args, { env: clientEnv(options) });
}

/** "nid[001-002],gpu01" → ["nid001", "nid002", "gpu01"], by Slurm itself. */
export async function expandNodeList(options: SlurmSpawnerOptions, list: string): Promise<string[]> {
  if (!list) return [];
  if (!/[[\]]/.test(list)) return list.split(',').filter(Boolean);
  const out = await scontrol(options, ['show', 'hostnames', list]);
  return out.split('\n').map((s) => s.trim()).filter(Boolean);
}

export interface NodeInfo {
  name: string;
  addr: string;
  hostname: string;
}

export async function nodeInfo(options: SlurmSpawnerOptions, name: string): Promise<NodeInfo> {
  const rec = parseScontrol(await scontrol(options, ['show', 'node', '-o', name]))[0] ?? {};
  return { name, addr: rec.NodeAddr ?? name, hostname: rec.NodeHostName ?? name };
}

export interface PartitionResources {
  partition: string;
  nodesIdle: number;
  nodesMixed: number;
  nodesTotal: number;
  freeCores: number;
  freeMemoryMb: number;
  freeGpus: number;
  /** Slurm's MaxTime ("UNLIMITED", "1-00:00:00", …). */
  maxWalltime: string;
}

function gpuCount(gres: string | undefined): number {
  if (!gres || gres === '(null)') return 0;
  let n = 0;
  for (const part of gres.split(/,(?![^(]*\))/)) {
    const m = /^gpu(?::[^:(]+)?:(\d+)/.exec(part);
    if (m) n += Number(m[1]);
  }
  return n;
}

function allocGpus(tres: string | undefined): number {
  const m = /gres\/gpu=(\d+)/.exec(tres ?? '');
  return m ? Number(m[1]) : 0;
}

/** Free resources per partition, from `scontrol show node -o` and `scontrol show partition -o`. */
export function clusterResources(options: SlurmSpawnerOptions): Promise<PartitionResources[]> {
  return cached(options, 'resources', loadResources(options));
}

/** The last known resources without waiting (the form is rendered synchronously), or undefined. */
export function peekClusterResources(options: SlurmSpawnerOptions): PartitionResources[] | undefined {
  return peek(options, 'resources', loadResources(options));
}

function loadResources(options: SlurmSpawnerOptions): () => Promise<PartitionResources[]> {
  return async () => {
    const [nodesText, partsText] = await Promise.all([
      scontrol(options, ['show', 'node', '-o']),
      scontrol(options, ['show', 'partition', '-o']),
    ]);
    const nodes = parseScontrol(nodesText.replace(/\n/g, '\n\n'));
    const out: PartitionResources[] = [];
    for (const p of parseScontrol(partsText.replace(/\n/g, '\n\n'))) {
      const name = p.PartitionName;
      if (!name) continue;
      const r: PartitionResources = { partition: name, nodesIdle: 0, nodesMixed: 0, nodesTotal: 0, freeCores: 0, freeMemoryMb: 0, freeGpus: 0, maxWalltime: p.MaxTime ?? 'UNLIMITED' };
      for (const n of nodes) {
        if (!(n.Partitions ?? '').split(',').includes(name)) continue;
        r.nodesTotal++;
        const state = (n.State ?? '').toUpperCase();
        const usable = !/DOWN|DRAIN|FAIL|MAINT|NOT_RESPONDING|POWER/.test(state);
        if (state.startsWith('IDLE')) r.nodesIdle++;
        else if (state.startsWith('MIXED')) r.nodesMixed++;
        if (!usable) continue;
        r.freeCores += Math.max(0, Number(n.CPUEfctv ?? n.CPUTot ?? 0) - Number(n.CPUAlloc ?? 0));
        r.freeMemoryMb += Math.max(0, Number(n.RealMemory ?? 0) - Number(n.AllocMem ?? 0));
        r.freeGpus += Math.max(0, gpuCount(n.Gres) - allocGpus(n.AllocTRES));
      }
      out.push(r);
    }
    return out;
  };
}

/**
 * The user's accounts from `sacctmgr show assoc`. null when accounting is not available (no
 * slurmdbd): the caller falls back to the admin list.
 */
function loadAccounts(options: SlurmSpawnerOptions, user: string): () => Promise<string[] | null> {
  return async () => {
    try {
      const out = await run(options.commands.sacctmgr, ['-nP', 'show', 'assoc', 'where', `user=${user}`, 'format=account'], { env: clientEnv(options), timeoutMs: 15_000 });
      return [...new Set(out.split('\n').map((s) => s.trim()).filter(Boolean))];
    } catch {
      return null; // accounting off (no slurmdbd) or sacctmgr missing
    }
  };
}

export function userAccounts(options: SlurmSpawnerOptions, user: string): Promise<string[] | null> {
  if (!options.accounts.fromSacctmgr) return Promise.resolve(null);
  return cached(options, `accounts:${user}`, loadAccounts(options, user)).then((v) => v, () => null);
}

/** Last known sacctmgr answer for the form: a list, null (accounting off), undefined (not yet known). */
export function peekUserAccounts(options: SlurmSpawnerOptions, user: string): string[] | null | undefined {
  if (!options.accounts.fromSacctmgr) return null;
  return peek(options, `accounts:${user}`, loadAccounts(options, user));
}

export interface Reservation {
  name: string;
  partition: string | null;
  endTime: string | null;
}

/** Active reservations this user may use (named in Users, or through one of their groups/accounts). */
export async function userReservations(options: SlurmSpawnerOptions, user: string, groups: string[], accounts: string[]): Promise<Reservation[]> {
  if (!options.reservations) return [];
  return filterReservations(await cached(options, 'reservations', loadReservations(options)), user, groups, accounts);
}

export function peekUserReservations(options: SlurmSpawnerOptions, user: string, groups: string[], accounts: string[]): Reservation[] {
  if (!options.reservations) return [];
  return filterReservations(peek(options, 'reservations', loadReservations(options)) ?? [], user, groups, accounts);
}

function loadReservations(options: SlurmSpawnerOptions): () => Promise<Record<string, string>[]> {
  // "No reservations in the system" is an answer; an unreachable controller offers none for now.
  return async () => parseScontrol((await scontrol(options, ['show', 'reservation', '-o']).catch(() => '')).replace(/\n/g, '\n\n'));
}

function filterReservations(all: Record<string, string>[], user: string, groups: string[], accounts: string[]): Reservation[] {
  const listed = (v: string | undefined) => (v && v !== '(null)' ? v.split(',') : []);
  return all
    .filter((r) => r.ReservationName && (r.State ?? '').toUpperCase() === 'ACTIVE')
    .filter((r) => {
      const users = listed(r.Users);
      if (users.some((u) => u.startsWith('-'))) return !users.includes(`-${user}`);
      return users.includes(user) || listed(r.Groups).some((g) => groups.includes(g)) || listed(r.Accounts).some((a) => accounts.includes(a));
    })
    .map((r) => ({ name: r.ReservationName!, partition: r.PartitionName && r.PartitionName !== '(null)' ? r.PartitionName : null, endTime: r.EndTime ?? null }));
}

export function clearClusterInfoCache(): void {
  cache.clear();
}
