/**
 * JupyterHub services (issue 10 item 8): programs with their own API token and scopes, optionally
 * routed at /services/NAME/ and logging users in with the hub's OAuth provider. The config is the
 * source of truth: at start each service's token is hashed (the plain value is kept only for a
 * managed service, which must be handed it), its OAuth client is written, and its route wanted.
 * Service tokens are not rows in api_tokens (which belong to users); they are looked up here first.
 */
import type { AtriumConfig } from '../config/schema.js';
import type { Stores, UserRow } from '../db/index.js';
import { hashToken, newToken } from '../auth/crypto.js';
import { safeEqual } from '../../shared/secret-compare.js';
import { expandScopes, roleScopes } from '../auth/scopes.js';
import { escapePath } from '../spawn/env.js';

export type ServiceConfig = AtriumConfig['services'][number];

export interface Service {
  readonly name: string;
  readonly config: ServiceConfig;
  readonly tokenHash: string;
  /** The plain token, kept only for a managed service (its process gets it in the environment). */
  readonly token: string | null;
  readonly scopes: Set<string>;
  readonly admin: boolean;
  /** '/services/NAME/' under the base URL; '' without a url (nothing to route). */
  readonly prefix: string;
  readonly clientId: string;
  readonly redirectUri: string;
  /** PID of the managed process while it runs (0 otherwise), as the service model reports it. */
  pid: number;
}

export const accessScope = (name: string) => `access:services!service=${name}`;

export class ServiceRegistry {
  readonly byName = new Map<string, Service>();
  private readonly byClient = new Map<string, Service>();

  constructor(config: AtriumConfig, base: string) {
    for (const c of config.services) {
      const token = c.apiToken ?? (c.command.length ? newToken() : null);
      const prefix = c.url ? `${base}services/${escapePath(c.name)}/` : '';
      const roles = c.roles.filter((r) => r === 'admin' || r === 'user');
      const s: Service = {
        name: c.name,
        config: c,
        tokenHash: token ? hashToken(token) : '',
        token: c.command.length ? token : null,
        scopes: expandScopes([...roleScopes(roles.filter((r) => r === 'admin')), ...c.scopes], ''),
        admin: roles.includes('admin'),
        prefix,
        clientId: c.oauthClientId ?? `service-${c.name}`,
        redirectUri: c.oauthRedirectUri ?? `${prefix || `${base}services/${escapePath(c.name)}/`}oauth_callback`,
        pid: 0,
      };
      this.byName.set(s.name, s);
      this.byClient.set(s.clientId, s);
    }
  }

  /** The service a header token belongs to; every hash is compared, in constant time each. */
  findToken(token: string): Service | null {
    const h = hashToken(token);
    let found: Service | null = null;
    for (const s of this.byName.values()) if (s.tokenHash && safeEqual(h, s.tokenHash)) found = s;
    return found;
  }

  byClientId(id: string): Service | undefined {
    return this.byClient.get(id);
  }

  /** `access:services!service=X` for every service this user may log in to (admins hold all). */
  accessScopesFor(user: UserRow, groupsOf: (u: string) => string[]): string[] {
    const out: string[] = [];
    for (const s of this.byName.values()) {
      const c = s.config;
      if (c.accessAllUsers || c.accessUsers.includes(user.name) || (c.accessGroups.length && groupsOf(user.name).some((g) => c.accessGroups.includes(g)))) {
        out.push(accessScope(s.name));
      }
    }
    return out;
  }

  /**
   * One OAuth client per service with a url: id service-NAME, secret = the service's token
   * (hashed), redirect URI /services/NAME/oauth_callback. Clients of services no longer
   * configured are removed, with every token issued to them.
   */
  syncOAuthClients(stores: Stores): void {
    stores.db.transaction(() => {
      const keep = new Set<string>();
      for (const s of this.byName.values()) {
        if (!s.config.url || !s.tokenHash) continue;
        keep.add(s.clientId);
        stores.oauth.upsertClient({
          id: s.clientId,
          secret_hash: s.tokenHash,
          redirect_uri: s.redirectUri,
          description: `Service ${s.name}`,
          allowedScopes: [accessScope(s.name)],
          server_id: null,
        });
      }
      for (const id of stores.oauth.serviceClientIds()) if (!keep.has(id)) stores.oauth.deleteClient(id);
    })();
  }

  /** JupyterHub's service model (contracts §2.2). */
  model(s: Service): Record<string, unknown> {
    return {
      kind: 'service',
      name: s.name,
      admin: s.admin,
      roles: s.config.roles,
      url: s.config.url ?? '',
      prefix: s.prefix,
      command: s.config.command,
      pid: s.pid,
      info: s.config.info,
      display: s.config.display,
    };
  }
}
