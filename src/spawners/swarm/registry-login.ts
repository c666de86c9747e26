/**
 * Private images for Swarm services: the service is created with the registry login for its
 * image (X-Registry-Auth, like `docker service create --with-registry-auth`), so whichever node
 * the task lands on can pull it. When a task then fails because the node has no image, the
 * manager asks the registry (distribution inspect, no pull) with the same login to tell a refused
 * login apart from a missing image: the first is the admins' to fix, and the pending page says so.
 */
import type Docker from 'dockerode';
import { isAtriumError } from '../../shared/errors.js';
import { registryAuthFor, registryHostOf, type RegistryLogin } from '../../shared/registry-auth.js';
import { SpawnError } from '../spawner.js';
import { engineMessage } from './docker-client.js';

const MISSING_IMAGE = /no such image|manifest unknown|pull access denied|not found|does not exist/i;
const LOGIN_REFUSED = /unauthorized|authentication required|denied|no basic auth credentials|incorrect username or password|401/i;

export async function createServiceWithLogin(docker: Docker, spec: Record<string, unknown>, image: string, logins: readonly RegistryLogin[] | undefined): Promise<{ id?: string; ID?: string }> {
  const auth = registryAuthFor(logins, image);
  // Always two arguments: with one, dockerode sends the spec itself as X-Registry-Auth.
  return (await docker.createService((auth ?? {}) as Docker.AuthConfig, spec as Docker.CreateServiceOptions)) as { id?: string; ID?: string };
}

/**
 * A start failed: if it looks like a missing image and the registry refuses the login (or wants
 * one and none is configured), say that instead. Any other failure is returned unchanged.
 */
export async function explainPullFailure(docker: Docker, err: unknown, image: string, logins: readonly RegistryLogin[] | undefined): Promise<unknown> {
  if (!isAtriumError(err)) return err;
  const text = `${err.message}\n${err.detail ?? ''}`;
  if (!MISSING_IMAGE.test(text)) return err;
  const auth = registryAuthFor(logins, image);
  const host = registryHostOf(image);
  try {
    await docker.getImage(image).distribution(auth ? { authconfig: auth } : {});
    return err; // the registry has it and lets us in: the node's failure was something else
  } catch (probe) {
    const why = engineMessage(probe);
    if (!LOGIN_REFUSED.test(why)) return err;
    const message = auth
      ? `The registry ${host} refused the login for ${image} (user ${auth.username})`
      // Without a login a registry cannot tell "no such repository" from "not for you" (Docker Hub
      // answers both with "denied"): say both.
      : `The registry ${host} refused ${image} without a login: it may not exist there, or the registry needs a login (images.registries)`;
    return new SpawnError(message, `${err.detail ?? err.message}; registry check: ${why}`);
  }
}
