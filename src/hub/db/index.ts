import { openDatabase, type Db } from './database.js';
import { UserStore } from './users.js';
import { GroupStore } from './groups.js';
import { ServerStore } from './servers.js';
import { TokenStore } from './tokens.js';
import { OAuthStore } from './oauth.js';
import { SessionStore } from './sessions.js';
import { storageHealth, type StorageHealth } from './storage-health.js';

export interface Stores {
  db: Db;
  /** Lock and storage failures: busy back-off, bookkeeping writes, the fatal hook. */
  health: StorageHealth;
  users: UserStore;
  groups: GroupStore;
  servers: ServerStore;
  tokens: TokenStore;
  oauth: OAuthStore;
  sessions: SessionStore;
}

export function openStores(file: string): Stores {
  const db = openDatabase(file);
  return {
    db,
    health: storageHealth(db),
    users: new UserStore(db),
    groups: new GroupStore(db),
    servers: new ServerStore(db),
    tokens: new TokenStore(db),
    oauth: new OAuthStore(db),
    sessions: new SessionStore(db),
  };
}

export { now } from './database.js';
export type { Db } from './database.js';
export type { UserRow } from './users.js';
export type { ServerRow, ServerStatus, ServerWithUser } from './servers.js';
export type { TokenRow } from './tokens.js';
export type { GroupRow } from './groups.js';
