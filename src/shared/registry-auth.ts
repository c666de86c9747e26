/**
 * Registry logins, read in one place: the hub's image preloader and the Docker Swarm spawner both
 * pick the credentials for an image here, from the one config list (`images.registries`, passwords
 * as ${ENV} secrets), so a login that works for a preload works for a spawn and the other way round.
 */

export interface RegistryLogin {
  /** host[:port] as it appears in image references. */
  host: string;
  username: string;
  password: string;
}

/** Docker's auth object for X-Registry-Auth (the engine ignores fields it does not know). */
export interface RegistryAuthConfig {
  username: string;
  password: string;
  serveraddress: string;
  [key: string]: string;
}

/**
 * The registry part of an image reference: the first path component when it looks like a host
 * (has a dot or a port, or is localhost), else Docker Hub.
 */
export function registryHostOf(image: string): string {
  const slash = image.indexOf('/');
  if (slash < 0) return 'docker.io';
  const first = image.slice(0, slash);
  return /[.:]/.test(first) || first === 'localhost' ? first : 'docker.io';
}

/** The login for the registry `image` is pulled from, or undefined when none is configured. */
export function registryAuthFor(logins: readonly RegistryLogin[] | undefined, image: string): RegistryAuthConfig | undefined {
  const host = registryHostOf(image);
  const login = logins?.find((r) => r.host === host);
  return login ? { username: login.username, password: login.password, serveraddress: login.host } : undefined;
}
