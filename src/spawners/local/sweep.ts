/**
 * Finds this hub's local server processes without the database: each one carries the owner tag
 * in its environment ({@link OWNER_ENV}), readable in /proc/<pid>/environ by the same uid or by
 * root (a root hub running servers as the users' uids sees them all). This covers a hub killed
 * between fork and recording the pid, and rows lost for any other reason.
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { OWNER_ENV, type OwnedObject } from '../spawner.js';
import type { LocalSpawnerState } from './local-spawner.js';
import { procStat } from './proc.js';

const MARKER = `${OWNER_ENV}=`;

/** Process group leaders whose owner tag starts with `ownerPrefix`. */
export function sweepLocal(ownerPrefix: string, log: Logger): OwnedObject[] {
  const found: OwnedObject[] = [];
  let denied = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    let environ: string;
    try {
      environ = readFileSync(`/proc/${pid}/environ`, 'latin1');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EACCES') denied++;
      continue;
    }
    const at = environ.indexOf(`\0${MARKER}${ownerPrefix}`);
    const start = environ.startsWith(MARKER + ownerPrefix) ? 0 : at >= 0 ? at + 1 : -1;
    if (start < 0) continue;
    const end = environ.indexOf('\0', start);
    const tag = environ.slice(start + MARKER.length, end < 0 ? undefined : end);
    const st = procStat(pid);
    // Children (kernels, terminals) inherit the tag; the spawner's process leads the group, and
    // stopping it signals the whole group.
    if (!st || st.pgrp !== pid || st.state === 'Z') continue;
    const state: LocalSpawnerState = { pid, port: 0, ip: '', startTime: 0, procStartTicks: st.startTicks, logPath: '' };
    found.push({ tag, state: { ...state }, description: `pid ${pid}` });
  }
  if (denied > 0) log.debug({ denied }, 'local sweep: some processes were not readable (other uids)');
  return found;
}
