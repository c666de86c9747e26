/**
 * Facts about processes by PID, from /proc (Linux). Used to re-attach after a hub restart without
 * mistaking a recycled PID for our server: a PID is only "ours" if its start time (field 22 of
 * /proc/<pid>/stat, in clock ticks since boot) is the one recorded at spawn time.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ProcStat {
  state: string;
  pgrp: number;
  startTicks: number;
}

/** Parsed /proc/<pid>/stat, or null if there is no such process. */
export function procStat(pid: number): ProcStat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may itself contain spaces or ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state), so field N is rest[N - 3].
  return { state: rest[0] ?? '?', pgrp: Number(rest[2]), startTicks: Number(rest[19]) };
}

/**
 * True if `pid` is alive and (when `startTicks` is given) is the same process that was started
 * then. Zombies count as gone: they no longer serve anything.
 */
export function isAlive(pid: number, startTicks?: number): boolean {
  if (!Number.isInteger(pid) || pid <= 1) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM means it exists but belongs to someone else; /proc below still decides.
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const st = procStat(pid);
  if (!st) return false;
  if (st.state === 'Z' || st.state === 'X') return false;
  return startTicks === undefined || st.startTicks === startTicks;
}

/**
 * True while any live process is left in process group `pgid`. Zombies do not count: after a hub
 * restart the servers' parent is init, which may reap them only a second or more later, and a
 * stop must not wait for that.
 */
export function groupExists(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const st = procStat(Number(entry));
    if (st && st.pgrp === pgid && st.state !== 'Z' && st.state !== 'X') return true;
  }
  return false;
}

/** Signal a whole process group, falling back to the single PID; ignores "already gone". */
export function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

/** Wait until `check()` is false or `ms` passed; true if it became false. */
export async function waitUntilGone(check: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (check()) {
    if (Date.now() >= deadline) return false;
    await sleep(50);
  }
  return true;
}
