/**
 * What the hub reads from a server row beyond its status: the options of the user's previous
 * spawn (to prefill the options form) and when the server ends by itself (the spawner's
 * `state().endsAt`, e.g. a batch job's walltime; see spawner.ts).
 */
import type { HubContext } from '../context.js';
import type { ServerRow, UserRow } from '../db/index.js';

function parsed(json: string | null): Record<string, unknown> | null {
  if (!json) return null;
  try {
    const v = JSON.parse(json) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length > 0 ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/**
 * The options this user's previous spawn used: this server's own last ones, else those of their
 * most recently started server. They are what parseOptions returned then; the kind re-checks them.
 */
export function lastOptions(hub: HubContext, user: UserRow, server: string): Record<string, unknown> | null {
  const rows = hub.stores.servers.ofUser(user.id);
  const own = parsed(rows.find((r) => r.name === server)?.user_options ?? null);
  if (own) return own;
  const latest = rows.filter((r) => r.started && parsed(r.user_options)).sort((a, b) => String(b.started).localeCompare(String(a.started)))[0];
  return latest ? parsed(latest.user_options) : null;
}

/** When a server ends by itself (its spawner's `state().endsAt`), as ISO time, or null. */
export function endsAt(row: ServerRow | undefined): string | null {
  const state = parsed(row?.state ?? null);
  const v = state?.endsAt;
  return typeof v === 'string' && !Number.isNaN(Date.parse(v)) ? new Date(v).toISOString() : null;
}
