/**
 * What the hub reads about the cluster besides job states: node addresses (to accept a port
 * report only from a job's own node), free resources per partition (the form's table), the
 * user's accounts and reservations. Answers are cached for `resourcesCacheSeconds` so a busy
 * spawn page does not turn into a stream of controller RPCs.
 */
import { clientEnv, parseScontrol, run } from './commands.js';
import type { SlurmSpawnerOptions } from './options.js';

const cache = new Map<string, { at: number; value: Promise<unknown> }>();

function cached<T>(options: SlurmSpawnerOptions, key: string, load: () => Promise<T>): Promise<T> {
  const k = JSON.stringify([options.clientEnvironment, options.commands, key]);
  const hit = cache.get(k);
  if (hit && Date.now() - hit.at < options.resourcesCacheSeconds * 1000) return hit.value as Promise<T>;
  const value = load();
  cache.set(k, { at: Date.now(), value });
  value.catch(() => cache.delete(k)); // failures are not remembered
  return value;
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
  return cached(options, 'resources', async () => {
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
  });
}

/**
 * The user's accounts from `sacctmgr show assoc`. null when accounting is not available (no
 * slurmdbd): the caller falls back to the admin list.
 */
export function userAccounts(options: SlurmSpawnerOptions, user: string): Promise<string[] | null> {
  if (!options.accounts.fromSacctmgr) return Promise.resolve(null);
  return cached(options, `accounts:${user}`, async () => {
    try {
      const out = await run(options.commands.sacctmgr, ['-nP', 'show', 'assoc', `where`, `user=${user}`, 'format=account'], { env: clientEnv(options), timeoutMs: 15_000 });
      return [...new Set(out.split('\n').map((s) => s.trim()).filter(Boolean))];
    } catch {
      return null;
    }
  }).then((v) => v, () => null);
}

export interface Reservation {
  name: string;
  partition: string | null;
  endTime: string | null;
}

/** Active reservations this user may use (named in Users, or through one of their groups/accounts). */
export async function userReservations(options: SlurmSpawnerOptions, user: string, groups: string[], accounts: string[]): Promise<Reservation[]> {
  if (!options.reservations) return [];
  const all = await cached(options, 'reservations', async () =>
    parseScontrol((await scontrol(options, ['show', 'reservation', '-o']).catch(() => '')).replace(/\n/g, '\n\n')),
  );
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
