/**
 * What the spawn lifecycle needs from the hub, and nothing more. The SpawnManager, the restore
 * and the env helpers take this (or a smaller slice of it) instead of the whole HubContext, so
 * they can be built and tested on their own (test/hub/manager.test.ts) and nothing in spawn/
 * imports the context that holds the manager. The hub passes its context object itself (a
 * HubContext is a SpawnDeps), so a SIGHUP reload that swaps `config` is seen here too.
 */
import type { Logger } from 'pino';
import type { AtriumConfig } from '../config/schema.js';
import type { Stores } from '../db/index.js';
import type { AuthStateCipher } from '../auth/crypto.js';
import type { SpawnerKind } from '../../spawners/spawner.js';
import type { ConfiguredHook } from '../hooks/run.js';
import type { Metrics } from '../metrics.js';
import type { HubUrls } from '../urls.js';
import type { RouteKeeper } from './routes.js';

export interface SpawnDeps {
  config: AtriumConfig;
  log: Logger;
  stores: Stores;
  cipher: AuthStateCipher;
  urls: HubUrls;
  spawnerKind: SpawnerKind<unknown>;
  spawnerOptions: unknown;
  hooks: ConfiguredHook[];
  metrics: Metrics;
  routes: RouteKeeper;
}
