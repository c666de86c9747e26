/**
 * The Spawner contract: how the hub starts, watches and stops one single-user server.
 *
 * One Spawner instance exists per (user, server name) while the hub knows about that server.
 * The hub owns the lifecycle around it (limits, timeouts, tokens, proxy routes, database state);
 * a spawner only talks to its backend (a local process, a Swarm service, a Slurm job, an SSH host).
 *
 * Every implementation runs the shared contract suite in `test/spawners/contract.ts`; hub-level
 * failure modes are covered with the named fakes in `test/spawners/fakes.ts`.
 *
 * ## Remote backends: what differs from a local process
 *
 * - Bind address vs connect URL. The server *binds* where it runs: a compute node's interface, or
 *   127.0.0.1 on an SSH host; that is what `JUPYTERHUB_SERVICE_URL` says (set it with
 *   {@link serviceUrl}). `start()` resolves with the URL the hub and the proxy *connect* to, which
 *   may be another address entirely: the local end of an SSH tunnel, a service VIP, the node's
 *   address as seen from the hub. The hub never derives one from the other; it waits for
 *   `${url}${baseUrl}` to answer and routes the proxy there.
 * - A port learnt after the start. A server that picks its port itself (a Slurm job on a shared
 *   node) reports it back: see {@link Spawner.report}. Only host + port are accepted, only with that
 *   server's own API token, and only while its `start()` waits; `start()` then resolves with the
 *   connect URL derived from the report (through a tunnel if the kind needs one). The hub's start
 *   timeout covers the whole wait, queueing included.
 * - Shared resources per kind. A kind may hold resources shared by all its spawners (one SSH
 *   connection per host, one squeue poller for every job). They belong to the kind, not to a
 *   spawner: created lazily on first use, released by the kind's optional `close(): Promise<void>`
 *   (`SpawnerKind.close?()`, which the hub calls once at shutdown; servers keep running), and
 *   created again on demand after a close or a hub restart. A spawner must not cache one across
 *   calls in a way that outlives a close, and `restore()` must not need one before `poll()`.
 * - Graceful vs immediate stop ({@link StopOptions}). The hub stops gracefully when a user or admin
 *   asks, when the poll loop finds a server gone, and after a failed start; immediately during the
 *   restore after a hub restart (interrupted spawns, orphans). A remote kind maps both onto its
 *   backend (`scancel` then `scancel -s KILL`; SIGTERM then SIGKILL over SSH) and resolves only
 *   once the server is gone or the backend says it is already gone.
 * - What the hub does around a stop. It removes the proxy route first, calls `stop()`, revokes
 *   the server's token, marks the row stopped, then runs the post-stop hooks with the spawn's env
 *   and user options (see src/hooks/hook.ts): a kind needs not keep them for the hooks.
 *
 * ## Crash safety: intent, handle, sweep
 *
 * The hub may be killed (kill -9, power loss of its container) at any instant, including between
 * a backend call that creates something and the line after it. A restarted hub must then find
 * every backend object (process, service, job) it ever created and either adopt it or remove it,
 * so that no server runs without a record (an orphan) and no user gets a second one (a
 * duplicate). The hub and the spawner share the work:
 *
 * 1. Intent (hub). Before calling `start()` the hub writes the server row as `pending` with a new
 *    spawn attempt id. `ctx.ownerTag` names that attempt (`<hub instance id>:<row id>:<attempt>`).
 * 2. Tag (spawner). Every backend object `start()` creates carries `ctx.ownerTag` where the
 *    backend keeps it and a later process can read it back without the hub's database: in the
 *    process environment as {@link OWNER_ENV} (local, SSH), as the `atrium.owner` label (Swarm),
 *    in the job comment or name (Slurm). The tag must be set in the same call that creates the
 *    object, never patched on afterwards.
 * 3. Handle (spawner). The moment the backend answers with an identity (pid + start time, service
 *    id, job id, host + remote pid), `start()` calls `ctx.recordHandle(state)` synchronously,
 *    before its next `await`. The hub writes it to the database before returning. If the name
 *    of the object is known before it is created (a Swarm service name), record it before the
 *    create call as well: a handle that names a not-yet-existing object is harmless.
 * 4. Sweep (kind). `SpawnerKind.sweep()` lists the backend objects that carry a tag starting with
 *    the given owner prefix. It covers the window between create and `recordHandle` (the hub can
 *    die there) and objects whose record was lost. Kinds whose backend cannot be searched
 *    (a process on an SSH host that is not reachable now) return what they can reach and log
 *    the rest; their handles in the database still cover every object recorded in step 3.
 * 5. Restore (hub, at start, all servers in parallel). For every row that is not stopped the hub
 *    calls `restore(state)` and `poll()`: a `running` row whose object still runs is adopted; a
 *    `pending` row with a handle whose object still exists is resumed when the kind has
 *    `resume()` (the spawn goes on); anything else (pending, stopping, dead) is stopped with
 *    `stop({ immediate: true })` and marked stopped. Then every swept object whose tag is not
 *    that of an adopted or resumed row is stopped the same way, through a fresh spawner given
 *    the sweep's `state`. Until this is
 *    done, the hub holds or refuses (503 + Retry-After) every request that touches a server.
 *
 * So `restore(state)` must accept a handle recorded part-way through `start()` and a state
 * produced by `sweep()`, and `poll()` / `stop()` must work from either. A spawner made for a
 * swept object is created with user name '' and server name '': everything `poll()` and `stop()`
 * need (host, job id, pid, volumes) belongs in the state, not in the constructor arguments.
 * Examples for kinds still to come: Slurm tags with `sbatch --comment=<tag>`, records the job id
 * parsed from sbatch's output, sweeps with `squeue --noheader --format='%i %k'`, and stops with
 * `scancel` (`scancel --signal=KILL` when immediate); SSH starts the remote process with the tag
 * in its environment, records host + pid (+ start time) as soon as the remote shell echoes the
 * pid, and sweeps each configured host through /proc/<pid>/environ of the login user's processes.
 *
 * ## Shared resources of a kind
 *
 * A kind may hold resources shared by all its spawners (Slurm: one squeue poller; SSH: one
 * connection per host plus the forward tunnels' local listeners). They live at module level in the
 * kind's folder, are created lazily by the first spawner that needs them — a `start()`, or a
 * `restore()` after a hub restart, which must rebuild whatever the server's URL and environment
 * depend on (SSH: the reverse tunnel on its recorded remote port, the forward tunnel on its
 * recorded local port) — and are ended by the kind's own close function (`closeSlurmPollers`,
 * `closeSshConnections`) or the hub process's exit. Closing them never stops a server.
 */
import type { RegistryLogin } from '../shared/registry-auth.js';
import { AtriumError } from '../shared/errors.js';
import { hostPort } from '../shared/address.js';
import type { Logger } from 'pino';
import type { KindDescriptor } from '../shared/kind.js';
import type { BatchJobs } from './batch-jobs.js';

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
   * `JUPYTERHUB_SERVICE_URL` out: only the spawner knows where the server will bind, so it sets
   * that one itself with {@link serviceUrl}. It carries the server's API token: never log it, and
   * pass it to a remote host so that no other user there can read it (not on a command line).
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
  /**
   * Opaque owner tag of this spawn attempt (`<hub instance id>:<row id>:<attempt>`, only
   * `[A-Za-z0-9:_-]`). Put it on every backend object at creation (see "Crash safety" above).
   */
  ownerTag: string;
  /**
   * Record the backend handle durably: the same shape `state()` returns, possibly partial (the
   * process exists but is not listening yet). Synchronous; when it returns the handle is on disk.
   * Call it as soon as the backend object has an identity, before the next `await`.
   */
  recordHandle(state: SpawnerState): void;
  /**
   * Registry logins from the hub's config (`images.registries`), for kinds that pull images
   * (Swarm services carry them so every node can pull a private image). Secrets: never log them.
   */
  registryLogins?: readonly RegistryLogin[];
  /**
   * The backend node this start was admitted on, when the hub's start queue admits per node
   * (`spawner.startQueue.perNode` and a kind with `admissionNodes`): one of the IDs that function
   * listed. The spawner must place the server on that node (Swarm: a `node.id==` constraint).
   * Absent otherwise.
   */
  node?: string;
}

/** Environment variable carrying `ctx.ownerTag` for process-based backends (local, SSH). */
export const OWNER_ENV = 'ATRIUM_SERVER_ID';

/** How to stop: `immediate` skips the graceful period (for half-started or orphaned objects). */
export interface StopOptions {
  /**
   * false (default): ask the server to shut down and wait the kind's grace period (SIGTERM, then
   * SIGKILL; `docker service rm` with the stop grace; `scancel` then `scancel -s KILL`).
   * true: remove it now (SIGKILL, service removal without waiting, `scancel -s KILL`); used by the
   * restore for servers that never became ready or that nobody owns, so that restoring many of them
   * never waits a grace period each.
   */
  immediate?: boolean;
}

/** A backend object found by `SpawnerKind.sweep()`. */
export interface OwnedObject {
  /** The owner tag found on the object (starts with the sweep's `ownerPrefix`). */
  tag: string;
  /** A state that `restore()` accepts, enough for `poll()` and `stop()`. */
  state: SpawnerState;
  /** For the log, e.g. 'pid 1234' or 'service atrium-x-alice'. */
  description: string;
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
   * (scheme://host:port, no path) where the hub and the proxy reach the server, which is not
   * necessarily the address it binds (see "Remote backends" above); the hub then waits until
   * `${url}${baseUrl}` answers HTTP below 500 and adds the proxy route.
   * Rejects with SpawnError for expected failures. Must clean up whatever it created before
   * rejecting, and must stop trying once `ctx.signal` aborts (the hub calls stop() afterwards).
   */
  start(ctx: SpawnContext): Promise<{ url: string }>;

  /**
   * Stop the server and release what start() created. Resolves once it no longer runs.
   * Idempotent: stopping a server that is already gone resolves. Works after `restore()` with a
   * partial handle or a sweep's state. See {@link StopOptions} for graceful vs immediate.
   */
  stop(opts?: StopOptions): Promise<void>;

  /**
   * null while the server runs (or while start() is still in progress); otherwise why it is not
   * running. Before start() or restore(): not running. Called by the hub's poll loop, at hub
   * start for restored servers, and before stop.
   */
  poll(): Promise<PollResult>;

  /**
   * Everything needed to re-attach after a hub restart (service id, job id, host+pid+port).
   * One key is read by the hub: `endsAt`, an ISO time at which the backend will end the server
   * by itself (a Slurm job's walltime), shown on the home page and as `ends_at` in the REST API.
   */
  state(): SpawnerState;

  /**
   * Re-attach to a server from a previous hub process. Called once, before poll(). `state` may be
   * a full `state()`, a partial handle from `ctx.recordHandle`, a sweep's `OwnedObject.state`, or
   * `{}` (nothing was recorded: poll() then reports not running and stop() does nothing).
   */
  restore(state: SpawnerState): void;

  /**
   * Progress while start() runs. The iterable ends when the spawn is over; the hub adds the
   * initial "Server requested" and the final ready/failed events itself.
   */
  progress?(): AsyncIterable<ProgressEvent>;

  /**
   * For backends whose server learns its port only after it starts (a Slurm job picks a free port
   * on its compute node): the server reports it with its own token on POST /hub/api/batchspawner,
   * and the hub, once it has checked the token belongs to this server and the body is exactly
   * `{port, host?}`, hands it here. `host` is what the job claimed (null if it sent none), `peer`
   * the TCP peer address of the report. Resolves when accepted — start() then resolves with the
   * address the spawner derived from it; rejects with SpawnError when refused (no start waiting for
   * a port, a host the server does not run on, a port out of range). Spawners that know their
   * address at start leave this out, and the hub answers such reports with 400.
   */
  report?(r: { host: string | null; port: number; peer: string }): Promise<void>;
  /**
   * Optional: carry on an interrupted start after a hub restart, instead of the restore stopping
   * it. Called once, after `restore(state)` with the handle recorded part-way through `start()`
   * and a `poll()` that said it still exists (a Slurm job still queued, or running but not yet
   * reported). Resolves like `start()` with the connect URL; the hub then waits for readiness and
   * adds the route. Must set up whatever `report()` needs before its first `await` (the hub opens
   * its gate right after the call). Rejects with SpawnError when the backend object is gone;
   * stops trying once `ctx.signal` aborts (the hub calls stop() afterwards). Kinds without it
   * keep today's rule: an interrupted start is stopped at restore.
   */
  resume?(ctx: ResumeContext): Promise<{ url: string }>;

  /**
   * Open an interactive shell inside the running server's environment, as the server's own user
   * (the web shell, src/hub/shell/). Called only while the hub considers the server running, and
   * only after the hub checked who may open it. Resolves once the shell process exists; rejects
   * with SpawnError when the backend cannot give one (server gone, node unreachable). The shell
   * must not carry the server's API token in its environment. Kinds without a shell leave it out.
   */
  shell?(opts: ShellOptions): Promise<ShellSession>;
}

/** Terminal size and cancellation for {@link Spawner.shell}. */
export interface ShellOptions {
  cols: number;
  rows: number;
  /** Aborted when the browser went away before the shell existed. */
  signal: AbortSignal;
}

/**
 * One interactive terminal session: bytes in, bytes out, a size, an end. UTF-8 travels as raw
 * bytes both ways; the browser's terminal decodes them, so a character split across two chunks
 * is never mangled here.
 */
export interface ShellSession {
  /** For the audit log: where the shell runs (e.g. 'pid 1234 uid 1001', 'container 3f2a…'). */
  readonly description: string;
  write(data: Buffer): void;
  resize(cols: number, rows: number): void;
  onData(fn: (chunk: Buffer) => void): void;
  /** Called once when the shell ends by itself or after close(). */
  onExit(fn: (exit: { code: number | null; signal: string | null }) => void): void;
  /** End the shell (hang up the terminal); idempotent. */
  close(): void;
}

/** What `resume()` gets: the parts of a SpawnContext that still make sense after a restart. */
export interface ResumeContext {
  log: Logger;
  signal: AbortSignal;
  recordHandle(state: SpawnerState): void;
}

/** What a spawner kind exposes to the hub once loaded (its descriptor's `load()` resolves to it). */
export interface SpawnerKind<Options = unknown> {
  kind: string;
  /**
   * Create a spawner for one (user, server). `options` is this kind's validated config block.
   * `logDir`: a directory private to the hub (stateDir/logs, 0700) where the spawner may keep
   * per-server logs; the hub always passes it. It is optional only so that a spawner built
   * outside the hub (a tool, a unit test) can fall back to a default of its own.
   * `stateDir`: the hub's state directory (hub.stateDir), for data a kind keeps per hub (the local
   * spawner's default homes); passed by the hub, optional for the same reason.
   * `authState`: reads the user's decrypted auth state now (null: none). For a kind whose
   * `restore()` after a hub restart needs a credential that must not sit in the plain-text state
   * (the SSH spawner's per-user key); `start()` gets it in `ctx.authState` as before.
   */
  create(args: { options: Options; user: SpawnUser; serverName: string; log: Logger; logDir?: string; stateDir?: string; authState?: () => Record<string, unknown> | null }): Spawner;
  /**
   * Optional spawn options form for this user (admin-defined choices). `last`: the options this
   * user's previous spawn was started with (what `parseOptions` returned then, from the database),
   * or null; the kind prefills the fields with them where they are still allowed.
   */
  optionsForm?(options: Options, user: SpawnUser, last?: Record<string, unknown> | null): OptionsForm | null;
  /**
   * Validate user-supplied options (form fields or the REST API JSON body). Throws SpawnError
   * naming the bad field; admin limits are enforced here, never trusted from the client.
   */
  parseOptions?(options: Options, input: Record<string, unknown>, user: SpawnUser): Record<string, unknown>;
  /**
   * Every backend object whose owner tag starts with `ownerPrefix` (this hub's objects), whether
   * or not the hub has a record of it. Called once at hub start, before any new spawn. Optional
   * only for backends that cannot be searched; they then rely on `ctx.recordHandle` alone.
   * Rejects only if the backend cannot be asked at all (the hub logs it and restores from records).
   */
  sweep?(args: { options: Options; ownerPrefix: string; log: Logger }): Promise<OwnedObject[]>;
  /**
   * Release what the kind shares between its spawners (a poller's timer, pooled connections).
   * Called once when the hub closes, after it stopped serving requests; servers keep running.
   * A kind must re-create such resources on demand afterwards (a hub restarted in the same process,
   * a test), so spawners never hold on to a closed one. Never throws.
   */
  close?(): Promise<void>;
  /**
   * Optional: the batch-job backend for the HPC portal (batch-jobs.ts), on this kind's cluster and
   * poller. Kinds that offer it set `batchJobs: true` in their descriptor.
   */
  batchJobs?(options: Options): BatchJobs;
  /**
   * Live free resources for the spawn page's table (e.g. Slurm: per partition idle nodes, free
   * cores, memory, GPUs, maximum walltime), for this user. Cached by the kind; the hub serves it as
   * JSON on GET /hub/api/spawner/resources and renders it beside the options form. Rejects when
   * the backend cannot be asked (the hub answers 503).
   */
  resources?(options: Options, user: SpawnUser): Promise<ResourceTable>;
  /**
   * Optional: the backend nodes a new server can be placed on now (stable IDs), for the start
   * queue's per-node admission (`spawner.startQueue.perNode`). The hub calls it when the first
   * start comes and then every `nodeRefreshSeconds`; a start is admitted onto one of them and gets
   * it in `ctx.node`. Rejects when the backend cannot be asked (the hub keeps the last list, or
   * admits for the whole backend until a first list arrives).
   * `args.ownerPrefix` and `args.settled`: for `AdmissionView.starting` (see there).
   */
  admissionNodes?(options: Options, args?: { ownerPrefix: string; settled: (tag: string) => boolean }): Promise<AdmissionView>;
}

/** Where a start may go: some of the listed nodes, or "cannot tell" (the expression is named). */
export type AdmissionPlacement = { nodes: string[] } | { unknown: string };

/** What `SpawnerKind.admissionNodes` reports (decisions 0024 and 0027). */
export interface AdmissionView {
  /** The nodes that can take a server now under the kind's own config (stable IDs). */
  nodes: string[];
  /**
   * Optional: the subset of `nodes` a start with these (validated) options may be placed on, e.g.
   * an environment's own placement constraints; `{ unknown }` when the kind cannot evaluate what
   * restricts it. The hub admits an unknown start against the whole-backend limit, unpinned, and
   * logs the expression once. Absent: every start may go on any listed node.
   */
  placement?(userOptions: Record<string, unknown>): AdmissionPlacement;
  /**
   * Optional: this hub's servers (owner tag starting with `args.ownerPrefix`) that the backend
   * shows as still starting on a node, leaving out those `args.settled(tag)` says the hub already
   * accounts for (a server it knows running, a start holding a queue slot). After a hub restart
   * this is how starts begun by the previous process are counted on their nodes.
   */
  starting?: { node: string; tag: string }[];
}

/** A small table of free resources (see `SpawnerKind.resources`): column titles and rows. */
export interface ResourceTable {
  columns: { key: string; label: string }[];
  rows: Record<string, string | number>[];
  /** ISO time of the backend answer shown. */
  at: string;
}

/**
 * The one registration point of a spawner kind: its folder exports one, src/spawners/kinds.ts
 * lists it. The loaded kind carries the factory and the optional spawn options form.
 */
export interface SpawnerDescriptor<Options = unknown> extends KindDescriptor {
  /** Servers run on the hub's own host (a process there can reach the hub from loopback). */
  readonly serversOnHubHost: boolean;
  /** The kind implements `SpawnerKind.batchJobs` (the portal's `jobs.enabled` needs it). */
  readonly batchJobs?: boolean;
  /** Import the implementation; called once at hub start, only for the configured kind. */
  load(): Promise<SpawnerKind<Options>>;
}

/** `JUPYTERHUB_SERVICE_URL` for a server listening on host:port under baseUrl. */
export function serviceUrl(host: string, port: number, baseUrl: string, proto: 'http' | 'https' = 'http'): string {
  return `${proto}://${hostPort(host, port)}${baseUrl}`;
}
