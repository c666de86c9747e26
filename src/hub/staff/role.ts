/**
 * The teaching-staff role: like JupyterHub's custom roles, a set of scopes filtered to the
 * staff member's course groups, so they may manage environments and preloads, and see, start and
 * stop servers of their students — and nothing of any other group — without being admins.
 */
import type { AtriumConfig } from '../config/schema.js';
import { checkScopes } from '../auth/scopes.js';

/** Course groups `user` teaches (from staff.teachingStaff). */
export function staffGroupsOf(config: AtriumConfig, user: string): string[] {
  const out = new Set<string>();
  for (const a of config.staff?.teachingStaff ?? []) if (a.users.includes(user)) for (const g of a.groups) out.add(g);
  return [...out];
}

/** The role's scopes for those groups (expanded by scopes.ts like any other). */
export function staffScopes(config: AtriumConfig, user: string): string[] {
  const groups = staffGroupsOf(config, user);
  if (groups.length === 0) return [];
  return [
    'images',
    ...groups.flatMap((g) => [`servers!group=${g}`, `read:users!group=${g}`, `list:users!group=${g}`, `read:groups!group=${g}`, `environments!group=${g}`]),
  ];
}

/**
 * May the holder of `held` manage an environment for these groups? Every group must be covered
 * (an environment shared with a group they do not teach is not theirs); an environment for named
 * users only needs the unfiltered scope (admins).
 */
export function mayManageGroups(held: Set<string>, groups: string[], groupsOf: (u: string) => string[]): boolean {
  if (checkScopes(held, ['environments'], {}, groupsOf) === 'ok') return true;
  if (groups.length === 0) return false;
  return groups.every((g) => checkScopes(held, ['environments'], { group: g }, groupsOf) === 'ok');
}
