/**
 * The typed hook runner the hub calls around a spawn. Hooks run one after another in config
 * order; each gets its own AbortSignal that fires at its timeout (or when the spawn is
 * cancelled), and a preSpawn hook sees the env and options earlier hooks added.
 *
 * Failure policy (DESIGN "expected failures are not bugs"): a pre-spawn failure always surfaces
 * as a catalogued error (HookError, ATRIUM_ERR_HOOK_*), whose message the user sees; anything
 * unexpected is wrapped so the user gets a generic message naming the hook and the log gets the
 * original in `detail`.
 */
import type { Hook, HookContext } from '../../hooks/hook.js';
import { HookError } from '../../hooks/hook.js';
import { hasCode, isAtriumError, type AtriumError } from '../../shared/errors.js';

export interface ConfiguredHook {
  hook: Hook;
  timeoutSeconds: number;
}

export type HookBase = Omit<HookContext, 'signal' | 'env' | 'userOptions'> & {
  env: Record<string, string>;
  userOptions: Record<string, unknown>;
  /** The spawn's own cancellation; every hook's signal also fires when this one does. */
  signal?: AbortSignal;
};

export interface PreSpawnOutcome {
  env: Record<string, string>;
  userOptions: Record<string, unknown>;
}

/** The abort reason at a hook's timeout; recognised by its code like every other error. */
const hookTimeout = () => new HookError('timed out', undefined, 'ATRIUM_ERR_HOOK_TIMEOUT');
const isTimeout = (err: unknown) => hasCode(err, 'ATRIUM_ERR_HOOK_TIMEOUT');

/** Run `step` with a signal that aborts at the timeout; reject with a HOOK_TIMEOUT error if it does not settle by then. */
async function withTimeout<T>(
  timeoutSeconds: number,
  outer: AbortSignal | undefined,
  step: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const onOuterAbort = () => controller.abort(outer?.reason);
  outer?.addEventListener('abort', onOuterAbort, { once: true });
  if (outer?.aborted) controller.abort(outer.reason);
  // A hook that ignores its signal must still not hold the spawn: we stop waiting at the
  // timeout, whatever the hook does afterwards.
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const err = hookTimeout();
      // Reject before aborting: a hook that honours its signal rejects inside abort(), and that
      // rejection must not win the race and turn a timeout into an "unexpected failure".
      reject(err);
      controller.abort(err);
    }, timeoutSeconds * 1000);
  });
  const cancelled = new Promise<never>((_, reject) => {
    controller.signal.addEventListener('abort', () => {
      if (!isTimeout(controller.signal.reason)) reject(cancelledError(controller.signal.reason));
    }, { once: true });
    if (controller.signal.aborted && !isTimeout(controller.signal.reason)) reject(cancelledError(controller.signal.reason));
  });
  timedOut.catch(() => undefined);
  cancelled.catch(() => undefined);
  try {
    return await Promise.race([step(controller.signal), timedOut, cancelled]);
  } finally {
    clearTimeout(timer);
    outer?.removeEventListener('abort', onOuterAbort);
  }
}

function cancelledError(reason: unknown): HookError {
  return new HookError('The spawn was cancelled', String(reason), 'ATRIUM_ERR_HOOK_CANCELLED');
}

function hookLabel(hook: Hook): string {
  return hook.name || 'unnamed hook';
}

function formatSeconds(s: number): string {
  return `${Number.isInteger(s) ? s : s.toFixed(1)} s`;
}

/**
 * Run every preSpawn in order and return the merged env and user options. Throws HookError
 * (message for the user, detail for the log) at the first failure or timeout; later hooks do
 * not run.
 */
export async function runPreSpawn(hooks: ConfiguredHook[], base: HookBase): Promise<PreSpawnOutcome> {
  const env = { ...base.env };
  const userOptions = { ...base.userOptions };
  for (const { hook, timeoutSeconds } of hooks) {
    if (!hook.preSpawn) continue;
    const name = hookLabel(hook);
    const started = Date.now();
    try {
      const result = await withTimeout(timeoutSeconds, base.signal, (signal) =>
        hook.preSpawn!({ ...base, env: Object.freeze({ ...env }), userOptions: Object.freeze({ ...userOptions }), signal }),
      );
      if (result?.env) Object.assign(env, result.env);
      if (result?.userOptions) Object.assign(userOptions, result.userOptions);
      base.log.debug({ hook: name, ms: Date.now() - started, addedEnv: Object.keys(result?.env ?? {}) }, 'pre-spawn hook done');
    } catch (err) {
      throw toHookError(err, name, timeoutSeconds, base);
    }
  }
  return { env, userOptions };
}

function toHookError(err: unknown, name: string, timeoutSeconds: number, base: HookBase): AtriumError {
  if (isTimeout(err)) {
    const e = new HookError(`${name} timed out after ${formatSeconds(timeoutSeconds)}`, undefined, 'ATRIUM_ERR_HOOK_TIMEOUT');
    base.log.warn({ hook: name, user: base.user.name }, e.message);
    return e;
  }
  // Any catalogued error is an expected refusal (HookError, or e.g. a directory that is down).
  if (isAtriumError(err)) {
    base.log.warn({ hook: name, user: base.user.name, detail: err.detail }, `pre-spawn hook refused: ${err.message}`);
    return err;
  }
  // Unexpected: the user learns which step failed, the log keeps the stack.
  base.log.error({ hook: name, user: base.user.name, err }, 'pre-spawn hook failed unexpectedly');
  const detail = err instanceof Error ? (err.stack ?? err.message) : String(err);
  return new HookError(`${name} failed; please try again later or contact the administrators`, detail, 'ATRIUM_ERR_HOOK_FAILED');
}

/** Run every postStop in order; errors and timeouts are logged and never block the stop. */
export async function runPostStop(hooks: ConfiguredHook[], base: HookBase): Promise<void> {
  for (const { hook, timeoutSeconds } of hooks) {
    if (!hook.postStop) continue;
    const name = hookLabel(hook);
    try {
      await withTimeout(timeoutSeconds, base.signal, (signal) =>
        hook.postStop!({ ...base, env: Object.freeze({ ...base.env }), userOptions: Object.freeze({ ...base.userOptions }), signal }),
      );
    } catch (err) {
      if (isTimeout(err)) base.log.warn({ hook: name, user: base.user.name }, `post-stop hook timed out after ${formatSeconds(timeoutSeconds)}`);
      else if (isAtriumError(err)) base.log.warn({ hook: name, user: base.user.name, detail: err.detail }, `post-stop hook failed: ${err.message}`);
      else base.log.error({ hook: name, user: base.user.name, err }, 'post-stop hook failed unexpectedly');
    }
  }
}
