/**
 * The one helper for sizes and durations written as strings in atrium.yaml ("2G", "90s").
 * Option blocks that accept such strings use SIZE_PATTERN / DURATION_PATTERN in their schema so
 * the loader reports a bad value with its line, then call parseSize / parseDuration.
 */

/** Regex source for a size: 1024, 512K, 2G, 1.5GiB, 100MB (case-insensitive unit). */
export const SIZE_PATTERN = '^\\s*[0-9]+(\\.[0-9]+)?\\s*([kKmMgGtT]([iI]?[bB])?|[bB])?\\s*$';
/** Regex source for a duration: 90, 90s, 5m, 1h, 2d, 1.5h, 250ms. */
export const DURATION_PATTERN = '^\\s*[0-9]+(\\.[0-9]+)?\\s*(ms|s|m|h|d)?\\s*$';

const SIZE_POWER: Record<string, number> = { '': 0, b: 0, k: 1, m: 2, g: 3, t: 4 };

/**
 * Bytes from a size. Units are binary (K = 1024), as Docker and Slurm read them, whether
 * written "G", "GB" or "GiB": admins mean the same thing by all three in this context.
 * A plain number is bytes. Throws on anything else.
 */
export function parseSize(value: string | number): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) throw new Error(`invalid size ${value}`);
    return Math.floor(value);
  }
  const m = new RegExp(SIZE_PATTERN).exec(value);
  if (!m) throw new Error(`invalid size "${value}" (examples: 512M, 2G, 1.5GiB, 1048576)`);
  const number = parseFloat(value);
  const unit = (m[2] ?? '').toLowerCase().charAt(0);
  return Math.floor(number * 1024 ** SIZE_POWER[unit]!);
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
