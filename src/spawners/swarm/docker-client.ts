/**
 * Docker Engine client from the configured URL, and small helpers around dockerode's error shape
 * (it throws errors carrying the HTTP statusCode and the engine's JSON message).
 */
import Docker from 'dockerode';

const clients = new Map<string, Docker>();

/** One client per URL: dockerode keeps an HTTP agent per instance, and spawners are many. */
export function dockerClient(url: string): Docker {
  let c = clients.get(url);
  if (!c) {
    c = new Docker(clientOptions(url));
    clients.set(url, c);
  }
  return c;
}

export function clientOptions(url: string): Docker.DockerOptions {
  if (url.startsWith('/')) return { socketPath: url };
  const u = new URL(url);
  if (u.protocol === 'unix:') return { socketPath: u.pathname };
  if (u.protocol === 'http:' || u.protocol === 'tcp:') {
    return { protocol: 'http', host: u.hostname, port: Number(u.port || 2375) };
  }
  if (u.protocol === 'https:') return { protocol: 'https', host: u.hostname, port: Number(u.port || 2376) };
  throw new Error(`dockerUrl: unsupported scheme ${u.protocol} (use unix://, http:// or https://)`);
}

export function statusOf(err: unknown): number | undefined {
  return typeof err === 'object' && err !== null && 'statusCode' in err ? Number((err as { statusCode: unknown }).statusCode) : undefined;
}

/** The engine's own message ("No such image: …") rather than dockerode's "(HTTP code 404) …" wrapper. */
export function engineMessage(err: unknown): string {
  if (typeof err === 'object' && err !== null) {
    const json = (err as { json?: { message?: string } }).json;
    if (json && typeof json.message === 'string') return json.message;
    if (err instanceof Error) return err.message;
  }
  return String(err);
}

/** Ignore "not found": removal is idempotent. */
export async function ignore404<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (err) {
    if (statusOf(err) === 404) return undefined;
    throw err;
  }
}
