/**
 * Which host a spawn goes to: the hosts below their maxSessions, fewest sessions first (ties in
 * config order). Session counts are this hub's own view: starts, restores and stops update them.
 */
import type { SshHost } from './options.js';

const sessions = new Map<string, number>();

export function hostOrder(hosts: SshHost[]): SshHost[] {
  return hosts
    .map((h, i) => ({ h, i, n: sessions.get(h.name) ?? 0 }))
    .filter((x) => x.n < x.h.maxSessions)
    .sort((a, b) => a.n - b.n || a.i - b.i)
    .map((x) => x.h);
}

export function addSession(host: string): void {
  sessions.set(host, (sessions.get(host) ?? 0) + 1);
}

export function removeSession(host: string): void {
  const n = (sessions.get(host) ?? 0) - 1;
  if (n > 0) sessions.set(host, n);
  else sessions.delete(host);
}

export function sessionCount(host: string): number {
  return sessions.get(host) ?? 0;
}
