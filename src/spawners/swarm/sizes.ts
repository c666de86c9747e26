/**
 * Byte sizes as admins write them. "2G" means 2 GiB, as in Docker's own `--memory 2g` and
 * JupyterHub's mem_limit, so a config copied from either keeps its meaning; "Gi" is accepted too.
 */
const POWERS: Record<string, number> = { '': 0, k: 1, m: 2, g: 3, t: 4 };

/** Bytes from 123, "123", "512M", "2G", "1.5Gi", "2GB". Throws on anything else. */
export function parseSizeBytes(value: string | number): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) throw new Error(`invalid size: ${value}`);
    return Math.floor(value);
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?)(b?)\s*$/i.exec(value);
  if (!m) throw new Error(`invalid size "${value}" (use bytes or a number with K, M, G or T)`);
  const unit = m[2]!.toLowerCase();
  return Math.floor(Number(m[1]) * 1024 ** POWERS[unit]!);
}

/** The short form used in messages and MEM_LIMIT-style labels: 2147483648 → "2G". */
export function formatSize(bytes: number): string {
  for (const [suffix, power] of [['T', 4], ['G', 3], ['M', 2], ['K', 1]] as const) {
    const unit = 1024 ** power;
    if (bytes >= unit && bytes % unit === 0) return `${bytes / unit}${suffix}`;
  }
  return String(bytes);
}

/** Docker wants CPU limits in NanoCPUs (1 core = 1e9). */
export function cpusToNano(cpus: number): number {
  return Math.round(cpus * 1e9);
}
