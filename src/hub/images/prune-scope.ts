/**
 * Who may prune what (issue 13): pruning removes images from every node, so teaching staff may
 * prune only repositories that environments of their own course groups use; admins (holders of
 * the unfiltered `environments` scope) may prune any. The check runs before any engine is asked.
 */
import type { HubContext } from '../context.js';
import type { Identity } from '../auth/identity.js';
import { groupsResolver } from '../auth/identity.js';
import { checkScopes } from '../auth/scopes.js';
import { atriumError } from '../errors.js';
import { environmentsOf } from '../environments/catalogue.js';
import { mayManageGroups } from '../staff/role.js';
import { parseImageRef } from './refs.js';

function repositoryOf(image: string): string | null {
  try {
    return parseImageRef(image).repository;
  } catch {
    return null;
  }
}

/** Throws ATRIUM_ERR_STAFF_NOT_YOURS unless `ident` may prune the repository of `image`. */
export function checkMayPrune(hub: HubContext, ident: Identity, image: string): void {
  const groupsOf = groupsResolver(hub);
  if (checkScopes(ident.scopes, ['environments'], {}, groupsOf) === 'ok') return;
  const repo = parseImageRef(image).repository;
  // Environments they may manage (every group of it is theirs): an environment shared with another
  // course does not let them remove that course's images.
  const mine = environmentsOf(hub.stores.db).list().filter((e) => e.groups.length > 0 && mayManageGroups(ident.scopes, e.groups, groupsOf));
  if (mine.some((e) => repositoryOf(e.image) === repo)) return;
  throw atriumError('ATRIUM_ERR_STAFF_NOT_YOURS', `You may prune only repositories that environments of your course groups use; no such environment uses ${repo}`);
}
