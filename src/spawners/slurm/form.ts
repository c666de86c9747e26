/**
 * The resource form (CINECA's ICE4HPC form): partition, account, reservation, cores, memory, GPUs,
 * walltime, environment, interface. The limits shown are those parseOptions enforces for this user.
 * Accounts and reservations come from the last cached sacctmgr / scontrol answer (the form is
 * rendered synchronously); the first render triggers the lookup.
 */
import type { OptionsForm, OptionsFormField, SpawnUser } from '../spawner.js';
import { peekClusterResources, peekUserAccounts, peekUserReservations } from './cluster-info.js';
import { formatWalltime, limitsFor, partitionsFor, type EffectiveLimits } from './limits.js';
import type { SlurmSpawnerOptions } from './options.js';
import { effectiveMaxWalltime } from './resources.js';

/** `slurmMaxTime`: the partition's MaxTime from Slurm, when known; the shown maximum is the smaller. */
function describe(l: EffectiveLimits, slurmMaxTime?: string): string {
  const parts: string[] = [];
  if (l.maxCores !== null) parts.push(`≤ ${l.maxCores} cores`);
  if (l.maxMemoryMb !== null) parts.push(`≤ ${l.maxMemoryMb >= 1024 && l.maxMemoryMb % 1024 === 0 ? `${l.maxMemoryMb / 1024}G` : `${l.maxMemoryMb}M`} memory`);
  parts.push(l.maxGpus > 0 ? `≤ ${l.maxGpus} GPUs` : 'no GPUs');
  if (slurmMaxTime !== undefined) parts.push(`max walltime ${effectiveMaxWalltime(slurmMaxTime, l.maxWalltimeMinutes)}`);
  else if (l.maxWalltimeMinutes !== null) parts.push(`≤ ${formatWalltime(l.maxWalltimeMinutes)} walltime`);
  return parts.join(', ');
}

/** Accounts offered to this user: their sacctmgr associations, else the admin fallback list. */
export function offeredAccounts(options: SlurmSpawnerOptions, user: SpawnUser): { accounts: string[]; fromSlurm: boolean } {
  const own = peekUserAccounts(options, user.name);
  if (own && own.length > 0) return { accounts: own, fromSlurm: true };
  return { accounts: options.accounts.fallback, fromSlurm: false };
}

/**
 * `last`: the user's previous parsed options (SlurmRequest shape). Each remembered value is used
 * only if it is still a choice or within the limits of the remembered partition; anything else
 * falls back to the admin default, so a tightened limit never prefills a value the form refuses.
 */
export function slurmOptionsForm(options: SlurmSpawnerOptions, user: SpawnUser, last?: Record<string, unknown> | null): OptionsForm | null {
  const fields: OptionsFormField[] = [];
  const parts = partitionsFor(options, user);
  const prev = last ?? {};
  const first = parts.find((p) => p.name === prev.partition) ?? parts[0];
  const lim = limitsFor(options, first?.name ?? null, user);
  const defaults = first ?? options.limits;
  const slurmMax = new Map((peekClusterResources(options) ?? []).map((r) => [r.partition, r.maxWalltime]));
  const within = (v: unknown, min: number, max: number | null): v is number => typeof v === 'number' && Number.isInteger(v) && v >= min && (max === null || v <= max);
  const pick = (name: string, choices: { value: string }[], fallback: string): string =>
    typeof prev[name] === 'string' && choices.some((c) => c.value === prev[name]) ? (prev[name] as string) : fallback;

  if (parts.length > 0) {
    fields.push({
      name: 'partition',
      label: 'Partition',
      type: 'select',
      choices: parts.map((p) => ({
        value: p.name,
        label: p.label ?? p.name,
        description: [p.description, describe(limitsFor(options, p.name, user), slurmMax.get(p.name))].filter(Boolean).join(' — '),
      })),
      default: first!.name,
    });
  }
  const { accounts, fromSlurm } = offeredAccounts(options, user);
  if (accounts.length > 0) {
    fields.push({
      name: 'account',
      label: 'Account',
      type: 'select',
      choices: accounts.map((a) => ({ value: a, label: a })),
      default: pick('account', accounts.map((a) => ({ value: a })), accounts[0]!),
      help: fromSlurm ? 'Your Slurm accounts.' : 'Accounts offered by the site (Slurm checks your association when the job is submitted).',
    });
  }
  const reservations = peekUserReservations(options, user.name, user.groups, fromSlurm ? accounts : []);
  if (reservations.length > 0) {
    fields.push({
      name: 'reservation',
      label: 'Reservation',
      type: 'select',
      choices: [{ value: '', label: 'None' }, ...reservations.map((r) => ({ value: r.name, label: r.name, description: r.endTime ? `until ${r.endTime}` : undefined }))],
      default: pick('reservation', reservations.map((r) => ({ value: r.name })), ''),
    });
  }
  const perPartition = parts.length > 1 ? ` Per partition: ${parts.map((p) => `${p.name}: ${describe(limitsFor(options, p.name, user), slurmMax.get(p.name))}`).join('; ')}.` : '';
  const cores = within(prev.cores, 1, lim.maxCores) ? prev.cores : defaults.defaultCores;
  fields.push({ name: 'cores', label: 'CPU cores', type: 'number', min: 1, max: lim.maxCores ?? undefined, default: cores, help: perPartition.trim() || undefined });
  // 0 means "the partition default" (nothing asked for): that is what the empty field does too.
  const memory = within(prev.memory, 1, lim.maxMemoryMb) ? (prev.memory % 1024 === 0 ? `${prev.memory / 1024}G` : `${prev.memory}M`) : first?.defaultMemory ?? '';
  fields.push({
    name: 'memory',
    label: 'Memory',
    type: 'text',
    default: memory,
    help: `A size like 8G; empty: the partition default.${lim.maxMemoryMb !== null ? ` At most ${lim.maxMemoryMb}M.` : ''}`,
  });
  const anyGpus = parts.length > 0 ? parts.some((p) => limitsFor(options, p.name, user).maxGpus > 0) : lim.maxGpus > 0;
  if (anyGpus) fields.push({ name: 'gpus', label: 'GPUs', type: 'number', min: 0, max: lim.maxGpus, default: within(prev.gpus, 0, lim.maxGpus) ? prev.gpus : 0 });
  const maxNow = first && slurmMax.has(first.name) ? effectiveMaxWalltime(slurmMax.get(first.name)!, lim.maxWalltimeMinutes) : lim.maxWalltimeMinutes !== null ? formatWalltime(lim.maxWalltimeMinutes) : null;
  fields.push({
    name: 'walltime',
    label: 'Walltime',
    type: 'text',
    default: within(prev.walltime, 1, lim.maxWalltimeMinutes) ? formatWalltime(prev.walltime) : defaults.defaultWalltime,
    help: `HH:MM:SS or minutes.${maxNow !== null ? ` At most ${maxNow}${first ? ` in ${first.name}` : ''}.` : ''}`,
  });
  if (options.environments.length > 0) {
    fields.push({
      name: 'environment',
      label: 'Environment',
      type: 'select',
      choices: options.environments.map((e) => ({ value: e.name, label: e.label ?? e.name, description: e.description })),
      default: pick('environment', options.environments.map((e) => ({ value: e.name })), options.environments[0]!.name),
    });
  }
  if (options.interfaces.length > 1) {
    fields.push({
      name: 'interface',
      label: 'Interface',
      type: 'select',
      choices: options.interfaces.map((i) => ({ value: i.name, label: i.label })),
      default: pick('interface', options.interfaces.map((i) => ({ value: i.name })), options.interfaces[0]!.name),
    });
  }
  return { fields };
}
