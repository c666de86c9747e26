/**
 * Where the catalogue meets the spawn: a spawn request (form or API) naming `environment` is
 * accepted only if the environment is offered to that user now, and then the environment — not
 * the request — decides image, resources and mounts. Called from SpawnManager.parseOptions, the
 * one path both the form and the REST API take, so neither can be used to get around it.
 */
import type { SpawnDeps } from '../spawn/deps.js';
import type { SpawnUser } from '../../spawners/spawner.js';
import { atriumError } from '../errors.js';
import { environmentsOf, isOffered } from './catalogue.js';
import { ENV_CONSTRAINTS_KEY } from '../../spawners/swarm/constraints.js';

export interface EnvironmentChoice {
  /** Spawner options narrowed to the environment's image (the kind checks against these). */
  spawnerOptions: unknown;
  /** What the kind's parseOptions gets instead of the raw request. */
  input: Record<string, unknown>;
  /** Added to what parseOptions returned (stored with the server, read by the Swarm spawner). */
  extra: Record<string, unknown>;
}

function scalar(v: unknown): unknown {
  return Array.isArray(v) && v.length === 1 ? v[0] : v;
}

export function environmentChoice(hub: SpawnDeps, user: SpawnUser, input: Record<string, unknown>): EnvironmentChoice | null {
  const name = scalar(input.environment);
  if (name === undefined || name === null || name === '') return null;
  const refused = atriumError('ATRIUM_ERR_ENV_NOT_AVAILABLE', `The environment "${String(name).slice(0, 60)}" is not available to you now`);
  if (typeof name !== 'string') throw refused;
  const env = environmentsOf(hub.stores.db).get(name);
  // Unknown and not-offered answer the same, so names of other courses' environments do not leak.
  if (!env || !isOffered(env, user)) throw refused;
  const opts = hub.spawnerOptions as { images?: unknown[] } | null;
  if (!opts || !Array.isArray(opts.images)) {
    throw atriumError('ATRIUM_ERR_ENV_NOT_AVAILABLE', 'Environments need the Docker Swarm spawner');
  }
  // `environment` tells the kind these values come from the catalogue, not from the user: the
  // Swarm kind lowers them to the admin maxima instead of refusing (nobody could correct them).
  const picked: Record<string, unknown> = { image: env.image, environment: env.name };
  if (env.cpu !== null) picked.cpu = env.cpu;
  if (env.memory !== null) picked.memory = env.memory;
  return {
    spawnerOptions: { ...opts, images: [{ image: env.image, name: env.name }] },
    input: picked,
    extra: {
      environment: env.name,
      ...(env.mounts.length ? { environmentMounts: env.mounts } : {}),
      ...(env.constraints.length ? { [ENV_CONSTRAINTS_KEY]: env.constraints } : {}),
    },
  };
}
