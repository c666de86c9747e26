/**
 * The Spawner contract: how the hub starts, watches and stops one single-user server.
 *
 * One Spawner instance exists per (user, server name) while the hub knows about that server.
 * The hub owns the lifecycle around it (limits, timeouts, tokens, proxy routes, database state);
 * a spawner only talks to its backend (a local process, a Swarm service, a Slurm job, an SSH host).
 *
 * Every implementation runs the shared contract suite in `test/spawners/contract.ts`.
 */
import { AtriumError } from '../shared/errors.js';
import type { Logger } from 'pino';

/** JSON-serialisable state that lets a restarted hub re-attach to a running server. */
export type SpawnerState = Record<string, unknown>;

/** Identity of the user as the spawner sees it (never the auth secret itself). */
export interface SpawnUser {
  name: string;
  admin: boolean;
  groups: string[];
}

export interface SpawnContext {
  user: SpawnUser;
  /** '' for the default server. */
  serverName: string;
  /**
   * The JupyterHub environment contract (contracts §1.2), computed by the hub, plus whatever
   * pre-spawn hooks added (e.g. NB_UID from the LDAP account hook). The hub leaves
   * `JUPYTERHUB_SERVICE_URL` out: only the spawner knows where the server will listen, so it sets
   * that one itself with {@link serviceUrl}.
   */
  env: Record<string, string>;
  /** Options validated by `parseOptions` (or the stored ones on a restart). Never raw form input. */
  userOptions: Record<string, unknown>;
  /** Decrypted auth state from the authenticator (e.g. SSHFS credentials), or null. */
  authState: Record<string, unknown> | null;
  /** The server's URL prefix, e.g. `/user/alice/` or `/user/bob/nb1/` (always ends with '/'). */
  baseUrl: string;
  log: Logger;
  /** Aborted when the hub gives up on the start (start timeout, user cancelled, hub shutdown). */
  signal: AbortSignal;
}

/** One event for the spawn-pending page and the progress SSE stream. */
export interface ProgressEvent {
  /** 0..100 */
  progress: number;
  message: string;
  htmlMessage?: string;
}

/** Result of `poll()`: null while running, otherwise why it is not running. */
export type PollResult = null | { exitStatus: number | null; reason: string };

/** A simple field of a spawn options form (rendered server-side by the hub). */
export interface OptionsFormField {
  name: string;
  label: string;
  type: 'select' | 'text' | 'number' | 'checkbox';
  /** For 'select': the admin-defined choices; only these are accepted by parseOptions. */
  choices?: { value: string; label: string; description?: string }[];
  default?: string | number | boolean;
  min?: number;
  max?: number;
  help?: string;
}

export interface OptionsForm {
  fields: OptionsFormField[];
}

/**
 * A failure the user should see (the spawn page shows `message`); the log gets `detail`.
 * Throw this for expected failures (no such image, no node fits, mount failed); any other error
 * is treated as a bug and logged with its stack. Its code is ATRIUM_ERR_SPAWN_FAILED; thrown from
 * parseOptions it becomes ATRIUM_ERR_SPAWN_BAD_OPTIONS (400). The hub matches on the code.
 */
export class SpawnError extends AtriumError {
  constructor(message: string, detail?: string) {
    super('ATRIUM_ERR_SPAWN_FAILED', message, { detail });
    this.name = 'SpawnError';
  }
}

export interface Spawner {
  /**
   * Start the server. Called once per spawn, after pre-spawn hooks ran. Resolves with the URL
   * (scheme://host:port, no path) where the server listens; the hub then waits until
   * `${url}${baseUrl}` answers HTTP below 500 and adds the proxy route.
   * Rejects with SpawnError for expected failures. Must clean up whatever it created before
   * rejecting, and must stop trying once `ctx.signal` aborts (the hub calls stop() afterwards).
   */
  start(ctx: SpawnContext): Promise<{ url: string }>;

  /**
   * Stop the server and release what start() created. Resolves once it no longer runs.
   * Idempotent: stopping a server that is already gone resolves.
   */
  stop(): Promise<void>;

  /**
   * null while the server runs (or while start() is still in progress); otherwise why it is not
   * running. Before start() or restore(): not running. Called by the hub's poll loop, at hub
   * start for restored servers, and before stop.
   */
  poll(): Promise<PollResult>;

  /** Everything needed to re-attach after a hub restart (service id, job id, host+pid+port). */
  state(): SpawnerState;

  /** Re-attach to a server from a previous hub process. Called once, before poll(). */
  restore(state: SpawnerState): void;

  /**
   * Progress while start() runs. The iterable ends when the spawn is over; the hub adds the
   * initial "Server requested" and the final ready/failed events itself.
   */
  progress?(): AsyncIterable<ProgressEvent>;
}

/** What a spawner kind exposes to the hub; one per implementation folder. */
export interface SpawnerKind<Options = unknown> {
  kind: string;
  /** Create a spawner for one (user, server). `options` is this kind's validated config block. */
  create(args: { options: Options; user: SpawnUser; serverName: string; log: Logger }): Spawner;
  /** Optional spawn options form for this user (admin-defined choices). */
  optionsForm?(options: Options, user: SpawnUser): OptionsForm | null;
  /**
   * Validate user-supplied options (form fields or the REST API JSON body). Throws SpawnError
   * naming the bad field; admin limits are enforced here, never trusted from the client.
   */
  parseOptions?(options: Options, input: Record<string, unknown>, user: SpawnUser): Record<string, unknown>;
}

/** `JUPYTERHUB_SERVICE_URL` for a server listening on host:port under baseUrl. */
export function serviceUrl(host: string, port: number, baseUrl: string, proto: 'http' | 'https' = 'http'): string {
  const h = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return `${proto}://${h}:${port}${baseUrl}`;
}
