/**
 * The hub's one PreloadManager, found from the hub context (the images API, the staff page and
 * the spawn form's "ready on N/M nodes" all read the same object). Set by the staff plugin.
 */
import type { HubContext } from '../context.js';
import type { PreloadManager } from './preload-manager.js';
import { atriumError } from '../errors.js';

const managers = new WeakMap<HubContext, PreloadManager>();

export function setPreloads(hub: HubContext, m: PreloadManager | null): void {
  if (m) managers.set(hub, m);
  else managers.delete(hub);
}

export function preloadsOf(hub: HubContext): PreloadManager | null {
  return managers.get(hub) ?? null;
}

export function requirePreloads(hub: HubContext): PreloadManager {
  const m = managers.get(hub);
  if (!m) throw atriumError('ATRIUM_ERR_IMAGES_DISABLED');
  return m;
}

/** Images of servers the hub has running or starting: pruning never removes these. */
export function imagesInUse(hub: HubContext): Set<string> {
  const out = new Set<string>();
  const rows = hub.stores.db.prepare("SELECT user_options FROM servers WHERE status IN ('running', 'pending') AND user_options IS NOT NULL").all() as { user_options: string }[];
  for (const r of rows) {
    try {
      const image = (JSON.parse(r.user_options) as { image?: unknown }).image;
      if (typeof image === 'string') out.add(image);
    } catch { /* a row with unreadable options uses no image we know of */ }
  }
  return out;
}
