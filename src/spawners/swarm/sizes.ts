/**
 * Docker-specific units. Byte sizes ("2G" = 2 GiB, as Docker's own `--memory 2g` and
 * JupyterHub's mem_limit read them) come from the one parser in src/shared/units.ts.
 */
export { parseSize as parseSizeBytes, formatSize } from '../../shared/units.js';

/** Docker wants CPU limits in NanoCPUs (1 core = 1e9). */
export function cpusToNano(cpus: number): number {
  return Math.round(cpus * 1e9);
}
