/**
 * The hub's shared objects, built once at start and handed to every plugin as a typed fastify
 * decoration (`app.hub`). Nothing here is a settings bag: each member is a real collaborator.
 */
import type { Authenticator } from '../authenticators/authenticator.js';
import type { SpawnManager } from './spawn/manager.js';
import type { SpawnDeps } from './spawn/deps.js';
import type { ServiceRegistry } from './services/registry.js';

export type { HubUrls } from './urls.js';

export interface HubContext extends SpawnDeps {
  authenticator: Authenticator;
  spawns: SpawnManager;
  /**
   * Secret our atrium-proxy adds to hub-route requests (X-Atrium-Proxy-Proof) so the hub can
   * tell its X-Forwarded-For from one any local process wrote (auth/client-address.ts).
   */
  proxyProof: string;
  /** Configured JupyterHub services (services/registry.ts); absent in contexts built by tests. */
  services?: ServiceRegistry;
  /** The portal's event cursor at this moment (jobs/events.ts); set when jobs are enabled. */
  portalCursor?: () => string;
  /** Name of the Atrium version the hub reports (X-JupyterHub-Version stays 3.0.0 for compatibility). */
  version: string;
}

/** The JupyterHub version Atrium speaks; single-user servers parse this header (contracts §0.2). */
export const JUPYTERHUB_COMPAT_VERSION = '3.0.0';
