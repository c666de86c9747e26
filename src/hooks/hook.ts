/**
 * The Hook contract: a closed, typed set of steps the hub runs around a spawn.
 *
 * Hooks are configured as an ordered list (`hooks:` in atrium.yaml); each has a timeout. A
 * preSpawn that throws aborts the spawn, and the hook's message is shown on the spawn page.
 * postStop errors are logged and never block the stop.
 *
 * What postStop sees: the env and user options the server was started with, after every
 * preSpawn's additions, minus the server's API token (revoked by then). For a server the hub
 * re-attached after a restart nothing of the spawn is in memory: env is rebuilt as the hub builds
 * it (no token, no preSpawn additions) and userOptions are the ones stored with the server (what
 * the user asked for, without preSpawn additions). postStop may be called for a user whose
 * preSpawn ran in another hub process, or never ran (hooks configured later): it must not throw.
 *
 * Every kind runs the shared contract suite in `test/hooks/contract.ts`: result shape, idempotent
 * preSpawn, the AbortSignal honoured against a backend that never answers, close() twice.
 */
import type { Logger } from 'pino';
import type { KindDescriptor } from '../shared/kind.js';
import { AtriumError } from '../shared/errors.js';

export interface HookContext {
  user: { name: string; admin: boolean; groups: string[] };
  serverName: string;
  /** Decrypted auth state (e.g. the X.509 DN a portal forwarded), or null. */
  authState: Record<string, unknown> | null;
  /** The spawn environment so far (postStop: see above); read-only, return additions from preSpawn. */
  env: Readonly<Record<string, string>>;
  userOptions: Readonly<Record<string, unknown>>;
  log: Logger;
  /**
   * Aborted when the hook's timeout passes or the spawn is cancelled. Pass it to every backend
   * call: the hub stops waiting at the timeout anyway, and a hook that ignores it keeps its
   * connection (and maybe a half-created account) busy for nothing.
   */
  signal: AbortSignal;
}

/** What a preSpawn hook may add to the spawn; later hooks see earlier hooks' additions. */
export interface PreSpawnResult {
  env?: Record<string, string>;
  userOptions?: Record<string, unknown>;
}

/**
 * An expected refusal: the user sees `message` on the spawn page, the log gets `detail`. Its code
 * is ATRIUM_ERR_HOOK_REFUSED; the hook runner uses the other ATRIUM_ERR_HOOK_* codes itself.
 */
export class HookError extends AtriumError {
  constructor(message: string, detail?: string, code: 'ATRIUM_ERR_HOOK_REFUSED' | 'ATRIUM_ERR_HOOK_TIMEOUT' | 'ATRIUM_ERR_HOOK_FAILED' | 'ATRIUM_ERR_HOOK_CANCELLED' = 'ATRIUM_ERR_HOOK_REFUSED') {
    super(code, message, { detail });
    this.name = 'HookError';
  }
}

export interface Hook {
  /** Shown to users in messages ("LDAP account hook timed out after 30 s") and in the log. */
  readonly name: string;
  /**
   * Before every start, in config order. Resolves with what to add to the spawn (later hooks see
   * it). Must be idempotent: a retried spawn, or the same user on another server, calls it again
   * and must get the same answer (find before create). Throws HookError for refusals.
   */
  preSpawn?(ctx: HookContext): Promise<PreSpawnResult | void>;
  /** After a server stopped (route removed, token revoked). Errors are logged, never shown. */
  postStop?(ctx: HookContext): Promise<void>;
  /** At hub shutdown; idempotent. */
  close?(): Promise<void>;
}

export interface HookKind<Options = unknown> {
  kind: string;
  create(args: { options: Options; log: Logger }): Hook;
}

/** The one registration point of a hook kind; src/hooks/kinds.ts lists it. */
export interface HookDescriptor<Options = unknown> extends KindDescriptor {
  /** Key of the options block inside a hooks[] entry (camelCase of the name: ldapAccount). */
  readonly optionsKey: string;
  /** One line for the docs: what the hook does. */
  readonly description: string;
  /** Import the implementation; called once at hub start for each configured entry of this kind. */
  load(): Promise<HookKind<Options>>;
}
