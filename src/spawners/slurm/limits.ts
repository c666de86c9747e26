/**
 * Resource requests and the admin limits they must fit: per partition, replaced per group (a user
 * in several groups gets the most generous value of each). parseOptions runs for the form and the
 * REST API alike, and start() runs it again on whatever options it gets (stored ones after a
 * restart, none from a bare API call), so no request reaches sbatch unchecked.
 */
import { SpawnError, type SpawnUser } from '../spawner.js';
import { parseSize } from '../../shared/units.js';
import type { SlurmPartition, SlurmSpawnerOptions } from './options.js';

/** What parseOptions returns: the same field names it accepts, normalised, so it re-parses. */
export interface SlurmRequest {
  partition: string;
  account: string;
  reservation: string;
  cores: number;
  /** Megabytes; 0: the partition default. */
  memory: number;
  gpus: number;
  /** Minutes. */
  walltime: number;
  environment: string;
  interface: string;
}

export interface EffectiveLimits {
  maxCores: number | null;
  maxMemoryMb: number | null;
  maxGpus: number;
  maxWalltimeMinutes: number | null;
}

const FIELDS = new Set(['partition', 'account', 'reservation', 'cores', 'memory', 'gpus', 'walltime', 'environment', 'interface']);
const NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** Slurm time formats → minutes: M, M:S, H:M:S, D-H, D-H:M, D-H:M:S. null if not one of them. */
export function parseWalltimeMinutes(text: string | number): number | null {
  if (typeof text === 'number') return Number.isInteger(text) && text > 0 ? text : null;
  const s = text.trim();
  let m = /^(\d+)-(\d{1,2})(?::(\d{1,2}))?(?::(\d{1,2}))?$/.exec(s);
  if (m) return Number(m[1]) * 1440 + Number(m[2]) * 60 + Number(m[3] ?? 0) + Math.ceil(Number(m[4] ?? 0) / 60);
  m = /^(\d+)(?::(\d{1,2}))?(?::(\d{1,2}))?$/.exec(s);
  if (!m) return null;
  if (m[3] !== undefined) return Number(m[1]) * 60 + Number(m[2]) + Math.ceil(Number(m[3]) / 60);
  return Number(m[1]) + Math.ceil(Number(m[2] ?? 0) / 60);
}

/** Minutes → "D-HH:MM:00" / "HH:MM:00", as sbatch --time takes it. */
export function formatWalltime(minutes: number): string {
  const d = Math.floor(minutes / 1440);
  const h = Math.floor((minutes % 1440) / 60);
  const m = minutes % 60;
  const hm = `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:00`;
  return d > 0 ? `${d}-${hm}` : hm;
}

/** "4G" → 4096, "512M" → 512, "2048" → 2048 (megabytes, as Slurm's --mem). null if not a size. */
export function parseMemoryMb(text: string | number): number | null {
  try {
    return Math.ceil(parseSize(text, { plainUnit: 'm' }) / 1024 ** 2);
  } catch {
    return null;
  }
}

function generous(a: number | null, b: number | undefined): number | null {
  if (b === undefined) return a;
  return a === null ? b : Math.max(a, b);
}

export function partitionsFor(options: SlurmSpawnerOptions, user: SpawnUser): SlurmPartition[] {
  return options.partitions.filter((p) => !p.groups || p.groups.some((g) => user.groups.includes(g)));
}

export function limitsFor(options: SlurmSpawnerOptions, partition: string | null, user: SpawnUser): EffectiveLimits {
  const p = options.partitions.find((x) => x.name === partition) ?? options.limits;
  const mem = (v: string | undefined) => (v === undefined ? null : parseMemoryMb(v));
  const wall = (v: string | undefined) => (v === undefined ? null : parseWalltimeMinutes(v));
  const base: EffectiveLimits = { maxCores: p.maxCores ?? null, maxMemoryMb: mem(p.maxMemory), maxGpus: p.maxGpus ?? 0, maxWalltimeMinutes: wall(p.maxWalltime) };
  const groupLimits = Object.entries(p.groupLimits ?? {}).filter(([g]) => user.groups.includes(g)).map(([, l]) => l);
  if (groupLimits.length === 0) return base;
  // A group's limit replaces the partition's for that key; several groups: the most generous.
  let cores: number | null = null, memory: number | null = null, gpus: number | null = null, walltime: number | null = null;
  let set = { cores: false, memory: false, gpus: false, walltime: false };
  for (const l of groupLimits) {
    if (l.maxCores !== undefined) (cores = generous(cores, l.maxCores)), (set.cores = true);
    if (l.maxMemory !== undefined) (memory = generous(memory, mem(l.maxMemory) ?? undefined)), (set.memory = true);
    if (l.maxGpus !== undefined) (gpus = generous(gpus, l.maxGpus)), (set.gpus = true);
    if (l.maxWalltime !== undefined) (walltime = generous(walltime, wall(l.maxWalltime) ?? undefined)), (set.walltime = true);
  }
  return {
    maxCores: set.cores ? cores : base.maxCores,
    maxMemoryMb: set.memory ? memory : base.maxMemoryMb,
    maxGpus: set.gpus ? gpus! : base.maxGpus,
    maxWalltimeMinutes: set.walltime ? walltime : base.maxWalltimeMinutes,
  };
}

/** Form values arrive as strings or one-element arrays (urlencoded), API values as JSON. */
function scalar(v: unknown): unknown {
  return Array.isArray(v) && v.length === 1 ? v[0] : v;
}

function given(v: unknown): boolean {
  return v !== undefined && v !== null && v !== '';
}

function integer(field: string, v: unknown): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < 0) throw new SpawnError(`${field}: "${String(v).slice(0, 40)}" is not a whole number`);
  return n;
}

function choice(field: string, v: unknown): string {
  if (typeof v !== 'string' || !NAME.test(v)) throw new SpawnError(`${field}: "${String(v).slice(0, 40)}" is not a valid name`);
  return v;
}

export function parseSlurmOptions(options: SlurmSpawnerOptions, input: Record<string, unknown>, user: SpawnUser): SlurmRequest {
  const unknown = Object.keys(input).filter((k) => !FIELDS.has(k));
  if (unknown.length > 0) throw new SpawnError(`unknown option${unknown.length > 1 ? 's' : ''}: ${unknown.slice(0, 5).join(', ')} (accepted: ${[...FIELDS].join(', ')})`);
  const v = (k: string) => scalar(input[k]);

  const allowed = partitionsFor(options, user);
  let partition = '';
  let p: SlurmPartition | undefined;
  if (options.partitions.length > 0) {
    if (allowed.length === 0) throw new SpawnError('partition: no partition is open to you');
    p = given(v('partition')) ? allowed.find((x) => x.name === v('partition')) : allowed[0];
    if (!p) throw new SpawnError(`partition: "${String(v('partition')).slice(0, 40)}" is not one you may use (${allowed.map((x) => x.name).join(', ')})`);
    partition = p.name;
  } else if (given(v('partition'))) {
    throw new SpawnError('partition: this site does not offer a partition choice');
  }
  const defaults = p ?? options.limits;
  const lim = limitsFor(options, partition || null, user);
  const where = partition ? ` in partition ${partition}` : '';

  const cores = given(v('cores')) ? integer('cores', v('cores')) : defaults.defaultCores;
  if (cores < 1) throw new SpawnError('cores: at least 1');
  if (lim.maxCores !== null && cores > lim.maxCores) throw new SpawnError(`cores: at most ${lim.maxCores}${where}`);

  let memory = 0;
  const memIn = given(v('memory')) ? v('memory') : p?.defaultMemory;
  if (given(memIn)) {
    const mb = typeof memIn === 'string' || typeof memIn === 'number' ? parseMemoryMb(memIn) : null;
    if (mb === null || mb < 1) throw new SpawnError(`memory: "${String(memIn).slice(0, 40)}" is not a size like 4G`);
    memory = mb;
  }
  // 0 (not asked for) leaves Slurm's partition default (DefMemPerCPU) in force.
  if (lim.maxMemoryMb !== null && memory > lim.maxMemoryMb) throw new SpawnError(`memory: at most ${lim.maxMemoryMb}M${where}`);

  const gpus = given(v('gpus')) ? integer('gpus', v('gpus')) : 0;
  if (gpus > lim.maxGpus) throw new SpawnError(lim.maxGpus === 0 ? `gpus: none available${where}` : `gpus: at most ${lim.maxGpus}${where}`);

  const wallIn = given(v('walltime')) ? v('walltime') : defaults.defaultWalltime;
  const walltime = typeof wallIn === 'string' || typeof wallIn === 'number' ? parseWalltimeMinutes(wallIn) : null;
  if (walltime === null || walltime < 1) throw new SpawnError(`walltime: "${String(wallIn).slice(0, 40)}" is not a time like 2:00:00 or a number of minutes`);
  if (lim.maxWalltimeMinutes !== null && walltime > lim.maxWalltimeMinutes) throw new SpawnError(`walltime: at most ${formatWalltime(lim.maxWalltimeMinutes)}${where}`);

  // Accounts and reservations are checked against the user's own again at start (that needs sacctmgr).
  const account = given(v('account')) ? choice('account', v('account')) : '';
  if (account && !options.accounts.fromSacctmgr && !options.accounts.fallback.includes(account)) {
    throw new SpawnError(`account: "${account}" is not offered (${options.accounts.fallback.join(', ') || 'none'})`);
  }
  const reservation = given(v('reservation')) ? choice('reservation', v('reservation')) : '';
  if (reservation && !options.reservations) throw new SpawnError('reservation: reservations are not offered');

  let environment = '';
  if (options.environments.length > 0) {
    const e = given(v('environment')) ? options.environments.find((x) => x.name === v('environment')) : options.environments[0];
    if (!e) throw new SpawnError(`environment: "${String(v('environment')).slice(0, 40)}" is not offered (${options.environments.map((x) => x.name).join(', ')})`);
    environment = e.name;
  } else if (given(v('environment'))) throw new SpawnError('environment: no environments are offered');

  let iface = '';
  if (options.interfaces.length > 0) {
    const i = given(v('interface')) ? options.interfaces.find((x) => x.name === v('interface')) : options.interfaces[0];
    if (!i) throw new SpawnError(`interface: "${String(v('interface')).slice(0, 40)}" is not offered (${options.interfaces.map((x) => x.name).join(', ')})`);
    iface = i.name;
  } else if (given(v('interface'))) throw new SpawnError('interface: no interface choice is offered');

  return { partition, account, reservation, cores, memory, gpus, walltime, environment, interface: iface };
}
