/**
 * The hub's shared objects, built once at start and handed to every plugin as a typed fastify
 * decoration (`app.hub`). Nothing here is a settings bag: each member is a real collaborator.
 */
import type { Logger } from 'pino';
import type { AtriumConfig } from './config/schema.js';
import type { Stores } from './db/index.js';
import type { AuthStateCipher } from './auth/crypto.js';
import type { Authenticator } from '../authenticators/authenticator.js';
import type { SpawnerKind } from '../spawners/spawner.js';
import type { Hook } from '../hooks/hook.js';
import type { Metrics } from './metrics.js';
import type { SpawnManager } from './spawn/manager.js';
import type { RouteKeeper } from './spawn/routes.js';

export interface HubUrls {
  /** Deployment prefix, e.g. '/' (always ends with '/'). */
  base: string;
  /** '/hub/' under base. */
  hub: string;
  /** '/hub/api' under base (no trailing slash, as JUPYTERHUB_API_URL). */
  api: string;
  /** Where single-user servers reach the hub API, e.g. http://127.0.0.1:8081/hub/api. */
  apiForServers: string;
  /** Where the proxy forwards hub traffic (the hub route target), e.g. http://127.0.0.1:8081. */
  hubTarget: string;
  /** true when users reach us over https (Secure cookies). */
  secure: boolean;
}

export interface HubContext {
  config: AtriumConfig;
  log: Logger;
  stores: Stores;
  cipher: AuthStateCipher;
  urls: HubUrls;
  authenticator: Authenticator;
  spawnerKind: SpawnerKind<unknown>;
  spawnerOptions: unknown;
  hooks: { hook: Hook; timeoutSeconds: number }[];
  metrics: Metrics;
  spawns: SpawnManager;
  routes: RouteKeeper;
  /**
   * Secret our atrium-proxy adds to hub-route requests (X-Atrium-Proxy-Proof) so the hub can
   * tell its X-Forwarded-For from one any local process wrote (auth/client-address.ts).
   */
  proxyProof: string;
  /** Name of the Atrium version the hub reports (X-JupyterHub-Version stays 3.0.0 for compatibility). */
  version: string;
}

/** The JupyterHub version Atrium speaks; single-user servers parse this header (contracts §0.2). */
export const JUPYTERHUB_COMPAT_VERSION = '3.0.0';
