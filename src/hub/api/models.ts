/**
 * JupyterHub-compatible JSON models (contracts §2.2), filtered by what the caller's scopes let
 * them see for that user.
 */
import type { HubContext } from '../context.js';
import type { ServerRow, TokenRow, UserRow, GroupRow } from '../db/index.js';
import type { Identity } from '../auth/identity.js';
import { groupsResolver, tokenScopes } from '../auth/identity.js';
import { canSee } from '../auth/scopes.js';
import { readAuthState } from '../auth/auth-state.js';
import { serverPrefix, escapePath } from '../spawn/env.js';
import { endsAt } from '../spawn/server-extras.js';

type Json = Record<string, unknown>;

export function serverModel(hub: HubContext, user: UserRow, row: ServerRow, opts: { state: boolean }): Json {
  const a = hub.spawns.get(user.name, row.name);
  const pending = a ? (a.phase === 'spawn' ? 'spawn' : a.phase === 'stop' ? 'stop' : null) : null;
  const ready = a?.phase === 'running';
  const progressUrl = row.name
    ? `${hub.urls.hub}api/users/${escapePath(user.name)}/servers/${escapePath(row.name)}/progress`
    : `${hub.urls.hub}api/users/${escapePath(user.name)}/server/progress`;
  const m: Json = {
    name: row.name,
    last_activity: row.last_activity,
    started: a ? row.started : null,
    pending,
    ready,
    stopped: !a,
    url: serverPrefix(hub, user.name, row.name),
    user_options: row.user_options ? JSON.parse(row.user_options) : a ? {} : null,
    progress_url: progressUrl,
    // Not in JupyterHub's model; its clients ignore unknown keys. When the backend ends the server by itself.
    ends_at: a ? endsAt(row) : null,
    // Not in JupyterHub's model either: the label the user gave a named server (null: show the name).
    display_name: row.display_name ?? null,
    // Not in JupyterHub's model either: the place in the start queue while the start waits there.
    queue_position: a?.queue ? a.queue.position : null,
  };
  if (opts.state) m.state = JSON.parse(row.state || '{}');
  return m;
}

export function userModel(
  hub: HubContext,
  ident: Identity,
  user: UserRow,
  opts: { includeStopped?: boolean; authState?: boolean; extraScopes?: string[] } = {},
): Json {
  const groupsOf = groupsResolver(hub);
  const held = opts.extraScopes ? new Set([...ident.scopes, ...opts.extraScopes]) : ident.scopes;
  const see = (s: string) => canSee(held, s, user.name, groupsOf);
  const m: Json = { kind: 'user', name: user.name, admin: Boolean(user.admin) };
  const readUsers = see('read:users');
  const groups = hub.stores.groups.groupsOf(user.id);
  const def = hub.spawns.get(user.name, '');
  if (readUsers) {
    Object.assign(m, {
      roles: user.admin ? ['admin', 'user'] : ['user'],
      groups,
      server: def?.phase === 'running' ? serverPrefix(hub, user.name, '') : null,
      pending: def ? (def.phase === 'spawn' ? 'spawn' : def.phase === 'stop' ? 'stop' : null) : null,
      created: user.created,
      last_activity: user.last_activity,
    });
  } else {
    if (see('read:users:groups')) m.groups = groups;
    if (see('read:users:activity')) m.last_activity = user.last_activity;
    if (see('read:roles:users')) m.roles = user.admin ? ['admin', 'user'] : ['user'];
  }
  if (see('read:users') || see('admin:auth_state')) {
    m.auth_state = opts.authState && see('admin:auth_state') ? readAuthState(hub, user) : null;
  }
  if (see('read:servers')) {
    const state = see('admin:server_state');
    const servers: Json = {};
    for (const row of hub.stores.servers.ofUser(user.id)) {
      const active = hub.spawns.get(user.name, row.name) !== undefined;
      if (!active && !opts.includeStopped) continue;
      servers[row.name] = serverModel(hub, user, row, { state });
    }
    m.servers = servers;
  }
  return m;
}

export function tokenModel(hub: HubContext, owner: UserRow, t: TokenRow): Json {
  const client = t.client_id === 'jupyterhub' ? undefined : hub.stores.oauth.client(t.client_id);
  return {
    user: owner.name,
    id: `a${t.id}`,
    kind: 'api_token',
    roles: [],
    scopes: [...tokenScopes(hub, t, owner)].sort(),
    created: t.created,
    last_activity: t.last_activity,
    expires_at: t.expires_at,
    note: t.note,
    session_id: t.session_id,
    oauth_client: client ? client.description : 'JupyterHub',
  };
}

export function groupModel(hub: HubContext, ident: Identity, g: GroupRow): Json {
  const m: Json = { kind: 'group', name: g.name };
  const held = ident.scopes;
  const ok = (s: string) => [...held].some((h) => {
    const [name, filter] = h.split('!');
    return name === s && (!filter || filter === `group=${g.name}`);
  });
  if (ok('read:groups')) m.users = hub.stores.groups.members(g.id);
  if (ok('read:roles:groups')) m.roles = [];
  return m;
}
