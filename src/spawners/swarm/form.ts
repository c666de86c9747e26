/**
 * The spawn options users see, and the server-side check of what they send back. Only admin-listed
 * images pass; a CPU or memory request above the admin maximum is refused with the field and the
 * limit named (as the Slurm spawner does), so the form comes back and the user knows what they
 * got. Two callers clamp instead, because nobody could correct the value: an environment of the
 * catalogue (the hub checked it, its staff set the numbers) and options stored with a server whose
 * limits an admin lowered since (a restart must not fail over it).
 */
import { SpawnError, type OptionsForm, type OptionsFormField, type SpawnUser } from '../spawner.js';
import type { SwarmSpawnerOptions } from './options.js';
import { formatSize, parseSizeBytes } from './sizes.js';

/** What parseOptions returns and the service spec builder reads from ctx.userOptions. */
export interface SwarmUserOptions {
  image: string;
  cpuLimit?: number;
  memoryLimitBytes?: number;
}

export function swarmOptionsForm(options: SwarmSpawnerOptions, _user: SpawnUser): OptionsForm | null {
  const fields: OptionsFormField[] = [];
  if (options.images.length > 1) {
    fields.push({
      name: 'image',
      label: 'Image',
      type: 'select',
      choices: options.images.map((i) => ({ value: i.image, label: i.name ?? i.image, description: i.description })),
      default: options.images[0]!.image,
    });
  }
  if (options.cpuChoices.length > 0) {
    const max = options.maxCpuLimit ?? Infinity;
    const choices = options.cpuChoices.filter((c) => c <= max);
    fields.push({
      name: 'cpu',
      label: 'CPU cores',
      type: 'select',
      choices: choices.map((c) => ({ value: String(c), label: String(c) })),
      default: String(options.cpuLimit ?? choices[0] ?? ''),
    });
  }
  if (options.memoryChoices.length > 0) {
    const max = options.maxMemoryLimit === undefined ? Infinity : parseSizeBytes(options.maxMemoryLimit);
    const choices = options.memoryChoices.filter((c) => parseSizeBytes(c) <= max);
    fields.push({
      name: 'memory',
      label: 'Memory',
      type: 'select',
      choices: choices.map((c) => ({ value: c, label: c })),
      default: options.memoryLimit === undefined ? choices[0] : formatSize(parseSizeBytes(options.memoryLimit)),
    });
  }
  return fields.length > 0 ? { fields } : null;
}

/** Form values arrive as strings or one-element arrays (urlencoded), API values as JSON. */
function scalar(v: unknown): unknown {
  return Array.isArray(v) && v.length === 1 ? v[0] : v;
}

export type OverLimit = 'refuse' | 'clamp';

export function parseSwarmOptions(options: SwarmSpawnerOptions, input: Record<string, unknown>, _user: SpawnUser, overLimit?: OverLimit): Record<string, unknown> {
  const out: SwarmUserOptions = { image: options.images[0]!.image };
  // A non-empty `environment` reaches a kind only from the hub's catalogue check, which replaces
  // the request with the environment's own values (src/hub/environments/spawn.ts).
  const env = scalar(input.environment);
  const mode: OverLimit = overLimit ?? (typeof env === 'string' && env !== '' ? 'clamp' : 'refuse');

  const image = scalar(input.image);
  if (image !== undefined && image !== '') {
    if (typeof image !== 'string') throw new SpawnError('image: must be a string');
    // Accept the display name as well as the reference; both come from the admin list only.
    const hit = options.images.find((i) => i.image === image || i.name === image);
    if (!hit) throw new SpawnError(`image: "${image}" is not one of the offered images`);
    out.image = hit.image;
  }

  const cpu = scalar(input.cpu);
  if (cpu !== undefined && cpu !== '') {
    const n = typeof cpu === 'number' ? cpu : typeof cpu === 'string' ? Number(cpu) : NaN;
    if (!Number.isFinite(n) || n <= 0) throw new SpawnError(`cpu: "${String(cpu)}" is not a positive number of cores`);
    const max = options.maxCpuLimit;
    if (max !== undefined && n > max && mode === 'refuse') throw new SpawnError(`cpu: at most ${max} cores (you asked for ${n})`);
    out.cpuLimit = max !== undefined ? Math.min(n, max) : n;
  }

  const memory = scalar(input.memory);
  if (memory !== undefined && memory !== '') {
    let bytes: number;
    try {
      if (typeof memory !== 'string' && typeof memory !== 'number') throw new Error('not a size');
      bytes = parseSizeBytes(memory);
    } catch {
      throw new SpawnError(`memory: "${String(memory)}" is not a size like 2G`);
    }
    if (bytes <= 0) throw new SpawnError('memory: must be more than 0');
    if (options.maxMemoryLimit !== undefined) {
      const max = parseSizeBytes(options.maxMemoryLimit);
      if (bytes > max && mode === 'refuse') throw new SpawnError(`memory: at most ${formatSize(max)} (you asked for ${formatSize(bytes)})`);
      bytes = Math.min(bytes, max);
    }
    out.memoryLimitBytes = bytes;
  }

  // Other keys (e.g. a CSRF field the hub forgot to strip) are ignored: nothing reads them.
  return { ...out };
}
