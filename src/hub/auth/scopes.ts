/**
 * Scopes, roles and the access check, following JupyterHub 3's RBAC (contracts §1.8, §2.1):
 * a scope is `name` or `name!kind=value` (kind: user, server, group). Roles are the four default
 * ones; a user holds `user` (and `admin` when admin); a server token holds `server`; an API token
 * holds what it was created with (default `inherit`), intersected with its owner's scopes.
 */

/** Each scope and the scopes it implies (JupyterHub's scope table, the part Atrium implements). */
const SUBSCOPES: Record<string, string[]> = {
  'admin:users': ['admin:auth_state', 'users', 'read:roles:users', 'delete:users'],
  users: ['read:users', 'list:users', 'users:activity'],
  'read:users': ['read:users:name', 'read:users:groups', 'read:users:activity'],
  'users:activity': ['read:users:activity'],
  'list:users': ['read:users:name'],
  'admin:servers': ['admin:server_state', 'servers'],
  servers: ['read:servers', 'delete:servers'],
  'read:servers': ['read:users:name'],
  'admin:groups': ['groups', 'read:roles:groups', 'delete:groups'],
  groups: ['read:groups', 'list:groups'],
  'read:groups': ['read:groups:name'],
  'list:groups': ['read:groups:name'],
  tokens: ['read:tokens'],
  'read:roles': ['read:roles:users', 'read:roles:groups'],
  // HPC portal batch jobs (src/hub/jobs/): submit and cancel imply seeing them and their output.
  jobs: ['read:jobs'],
};

export const KNOWN_SCOPES = new Set<string>([
  ...Object.keys(SUBSCOPES),
  ...Object.values(SUBSCOPES).flat(),
  'self', 'inherit', 'access:servers', 'read:hub', 'proxy', 'shutdown', 'read:metrics', 'admin-ui',
  'list:services', 'read:services', 'access:services',
  // Teaching staff (issue 13): the environment catalogue and image preloads.
  'environments', 'images',
]);

/** The scopes `self` stands for, each filtered to the user. */
const SELF_SCOPES = [
  'read:users', 'read:users:name', 'read:users:groups', 'users:activity', 'read:users:activity',
  'servers', 'delete:servers', 'read:servers', 'tokens', 'read:tokens', 'access:servers',
  'jobs', 'read:jobs',
];

export const ROLES: Record<string, string[]> = {
  user: ['self'],
  admin: [
    'admin-ui', 'admin:users', 'admin:servers', 'tokens', 'admin:groups', 'list:services', 'read:services',
    'read:hub', 'proxy', 'shutdown', 'access:services', 'access:servers', 'read:roles', 'read:metrics', 'jobs',
    'environments', 'images',
  ],
  server: ['users:activity!user', 'access:servers!user'],
  token: ['inherit'],
};

export interface Filter {
  kind: 'user' | 'server' | 'group' | 'service';
  value: string;
}

export function parseScope(s: string): { name: string; filter: Filter | null; bareFilter?: 'user' | 'server' } {
  const i = s.indexOf('!');
  if (i < 0) return { name: s, filter: null };
  const name = s.slice(0, i);
  const f = s.slice(i + 1);
  if (f === 'user' || f === 'server') return { name, filter: null, bareFilter: f };
  const eq = f.indexOf('=');
  const kind = f.slice(0, eq);
  if (eq < 0 || !['user', 'server', 'group', 'service'].includes(kind)) throw new Error(`invalid scope filter in ${s}`);
  return { name, filter: { kind: kind as Filter['kind'], value: f.slice(eq + 1) } };
}

export function isValidScope(s: string): boolean {
  try {
    return KNOWN_SCOPES.has(parseScope(s).name);
  } catch {
    return false;
  }
}

/**
 * Expand scopes: subscopes recursively, `self` to the owner's user scopes, bare `!user`/`!server`
 * filters to the owner (or the OAuth client's server). `inherit` is left for the caller.
 */
export function expandScopes(scopes: Iterable<string>, owner: string, serverOfClient?: string): Set<string> {
  const out = new Set<string>();
  const add = (name: string, suffix: string) => {
    if (out.has(name + suffix)) return;
    out.add(name + suffix);
    for (const sub of SUBSCOPES[name] ?? []) add(sub, suffix);
  };
  for (const s of scopes) {
    if (s === 'self') {
      for (const x of SELF_SCOPES) add(x, `!user=${owner}`);
      continue;
    }
    if (s === 'inherit') {
      out.add('inherit');
      continue;
    }
    const p = parseScope(s);
    if (p.bareFilter === 'user') add(p.name, `!user=${owner}`);
    else if (p.bareFilter === 'server') add(p.name, serverOfClient ? `!server=${serverOfClient}` : `!user=${owner}`);
    else add(p.name, p.filter ? `!${p.filter.kind}=${p.filter.value}` : '');
  }
  return out;
}

export function roleScopes(roles: string[]): string[] {
  return roles.flatMap((r) => ROLES[r] ?? []);
}

/** Does `held` (one filtered or unfiltered scope) cover `want`? Groups resolved by `groupsOf`. */
function covers(held: string, want: string, groupsOf: (user: string) => string[]): boolean {
  const h = parseScope(held);
  const w = parseScope(want);
  if (h.name !== w.name) return false;
  if (!h.filter) return true;
  if (!w.filter) return false;
  if (h.filter.kind === w.filter.kind) return h.filter.value === w.filter.value;
  const wantUser = w.filter.kind === 'user' ? w.filter.value : w.filter.kind === 'server' ? w.filter.value.split('/')[0]! : null;
  if (h.filter.kind === 'user') return wantUser === h.filter.value;
  if (h.filter.kind === 'group' && wantUser !== null) return groupsOf(wantUser).includes(h.filter.value);
  return false;
}

/**
 * The scopes of `token` that the owner also holds: an unfiltered token scope narrows to the
 * owner's filters; a filtered one is kept when some owner scope covers it.
 */
export function intersectScopes(token: Set<string>, owner: Set<string>, groupsOf: (u: string) => string[]): Set<string> {
  const out = new Set<string>();
  for (const t of token) {
    if (t === 'inherit') continue;
    for (const o of owner) {
      if (covers(o, t, groupsOf)) out.add(t);
      else if (covers(t, o, groupsOf)) out.add(o);
    }
  }
  return out;
}

export interface Resource {
  user?: string;
  server?: string; // "user/name"
  group?: string;
}

/**
 * JupyterHub's @needs_scope decision for one request: 'ok' when any held scope of one of `names`
 * is unfiltered or matches the resource; 'filter' when held only with filters and no resource
 * was named (the handler filters); 'no-access' (404) when held with non-matching filters;
 * 'forbidden' (403) when none of the scopes is held at all.
 */
export function checkScopes(
  held: Set<string>,
  names: string[],
  res: Resource,
  groupsOf: (user: string) => string[],
): 'ok' | 'filter' | 'no-access' | 'forbidden' {
  let seen = false;
  const hasResource = Boolean(res.user || res.server || res.group);
  for (const h of held) {
    const p = parseScope(h);
    if (!names.includes(p.name)) continue;
    seen = true;
    if (!p.filter) return 'ok';
    if (!hasResource) continue;
    const f = p.filter;
    const user = res.user ?? (res.server ? res.server.split('/')[0] : undefined);
    if (f.kind === 'user' && user === f.value) return 'ok';
    if (f.kind === 'server' && res.server === f.value) return 'ok';
    if (f.kind === 'group' && (res.group === f.value || (user !== undefined && groupsOf(user).includes(f.value)))) return 'ok';
  }
  if (!seen) return 'forbidden';
  return hasResource ? 'no-access' : 'filter';
}

/** Whether `held` lets the caller see `scopeName` for `user` (model field filtering). */
export function canSee(held: Set<string>, scopeName: string, user: string, groupsOf: (u: string) => string[]): boolean {
  return checkScopes(held, [scopeName], { user }, groupsOf) === 'ok';
}
