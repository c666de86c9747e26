/**
 * Which host a spawn goes to: the first host rule that matches the user narrows the pool (no
 * fallback: a rule is a restriction, e.g. "the GPU course only on the GPU hosts"); within it, the
 * hosts below their maxSessions, fewest sessions first (ties in config order). Session counts are
 * this hub's own view: starts, restores and stops update them.
 */
import type { SpawnUser } from '../spawner.js';
import type { SshHost, SshHostRule } from './options.js';

/** The hosts `user` may get, and the rule that decided (null: no rule matched, every host). */
export function hostsFor(hosts: SshHost[], rules: SshHostRule[], user: Pick<SpawnUser, 'name' | 'groups'>): { hosts: SshHost[]; rule: number | null } {
  for (const [i, r] of rules.entries()) {
    if (r.users !== undefined && !new RegExp(r.users, 'u').test(user.name)) continue;
    if (r.groups !== undefined && !r.groups.some((g) => user.groups.includes(g))) continue;
    const allowed = new Set(r.hosts);
    return { hosts: hosts.filter((h) => allowed.has(h.name)), rule: i };
  }
  return { hosts, rule: null };
}

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
