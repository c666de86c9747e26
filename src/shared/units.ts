/**
 * The one helper for sizes and durations written as strings in atrium.yaml ("2G", "90s"), used
 * by the config schema and by every kind (Swarm memory limits, tmpfs sizes, Slurm memory).
 * Option blocks that accept such strings use SIZE_PATTERN / DURATION_PATTERN in their schema so
 * the loader reports a bad value with its line, then call parseSize / parseDuration.
 */

/** Regex source for a size: 1024, 512K, 2G, 1.5GiB, 100MB (case-insensitive unit). */
export const SIZE_PATTERN = '^\\s*[0-9]+(\\.[0-9]+)?\\s*([kKmMgGtT][iI]?[bB]?|[bB])?\\s*$';
/** Regex source for a duration: 90, 90s, 5m, 1h, 2d, 1.5h, 250ms. */
export const DURATION_PATTERN = '^\\s*[0-9]+(\\.[0-9]+)?\\s*(ms|s|m|h|d)?\\s*$';

const SIZE_POWER: Record<string, number> = { '': 0, b: 0, k: 1, m: 2, g: 3, t: 4 };

/**
 * Bytes from a size. Units are binary (K = 1024), as Docker and Slurm read them, whether
 * written "G", "GB" or "GiB": admins mean the same thing by all three in this context.
 * A plain number is bytes unless `plainUnit` says otherwise (Slurm reads a bare number as
 * megabytes). Throws on anything else.
 */
export function parseSize(value: string | number, opts: { plainUnit?: 'b' | 'k' | 'm' | 'g' } = {}): number {
  const plain = SIZE_POWER[opts.plainUnit ?? 'b']!;
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) throw new Error(`invalid size ${value}`);
    return Math.floor(value * 1024 ** plain);
  }
  const m = new RegExp(SIZE_PATTERN).exec(value);
  if (!m) throw new Error(`invalid size "${value}" (examples: 512M, 2G, 1.5GiB, 1048576)`);
  const number = parseFloat(value);
  const unit = (m[2] ?? '').toLowerCase().charAt(0);
  return Math.floor(number * 1024 ** (unit === '' ? plain : SIZE_POWER[unit]!));
}

/** The short form used in messages and labels: 2147483648 → "2G". */
export function formatSize(bytes: number): string {
  for (const [suffix, power] of [['T', 4], ['G', 3], ['M', 2], ['K', 1]] as const) {
    const unit = 1024 ** power;
    if (bytes >= unit && bytes % unit === 0) return `${bytes / unit}${suffix}`;
  }
  return String(bytes);
}

const DURATION_SECONDS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 };

/** Seconds from a duration; a plain number is seconds. Throws on anything else. */
export function parseDuration(value: string | number): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) throw new Error(`invalid duration ${value}`);
    return value;
  }
  const m = new RegExp(DURATION_PATTERN).exec(value);
  if (!m) throw new Error(`invalid duration "${value}" (examples: 90s, 5m, 1h, 2d)`);
  return parseFloat(value) * DURATION_SECONDS[m[2] ?? 's']!;
}
