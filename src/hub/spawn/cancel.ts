/**
 * Cancelling a start that is still pending: the Cancel button on the spawn-pending page and
 * `DELETE /hub/api/users/{name}/server[s/{server}]` while the server is starting (JupyterHub
 * accepts a stop during a pending spawn since 5.1; before, it answered 400 "pending spawn, please
 * wait" and the user waited out startTimeoutSeconds).
 *
 * A cancel aborts the attempt's AbortController with a CancelRequest as the reason. Everything
 * that waits in the spawn (pre-spawn hooks, spawner.start, the readiness wait) already listens to
 * that signal; the manager's failure path then stops whatever the spawner had created, revokes
 * the server's token and OAuth client and marks the row stopped, exactly as for a failed spawn.
 * The reason is what lets that path tell a cancel from the start timeout, which aborts the same
 * controller.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { atriumError, type AtriumError } from '../errors.js';
import type { ActiveServer } from './active.js';

/** The abort reason of a cancelled start (never thrown, never sent to a client). */
export class CancelRequest extends Error {
  constructor(readonly by: string) {
    super(`start cancelled: ${by}`);
    this.name = 'CancelRequest';
  }
}

/** Was this attempt aborted by a cancel (rather than by the start timeout or a failure)? */
export function wasCancelled(a: ActiveServer): boolean {
  return a.abort.signal.aborted && a.abort.signal.reason instanceof CancelRequest;
}

/** The error an aborted start is reported with. */
export function abortError(a: ActiveServer, startTimeoutSeconds: number): AtriumError {
  return wasCancelled(a)
    ? atriumError('ATRIUM_ERR_SPAWN_CANCELLED')
    : atriumError('ATRIUM_ERR_SPAWN_TIMEOUT', `Server did not start within ${startTimeoutSeconds} seconds`);
}

/**
 * Cancel a pending start. Resolves 'stopped' once the attempt's cleanup is over, or 'pending' if
 * that takes longer than `waitMs` (the cleanup goes on; the API answers 202 as for a slow stop).
 */
export async function cancelSpawn(a: ActiveServer, by: string, waitMs: number): Promise<'stopped' | 'pending'> {
  if (!a.abort.signal.aborted) a.abort.abort(new CancelRequest(by));
  const finished = await Promise.race([a.done.then(() => true), sleep(waitMs).then(() => false)]);
  return finished ? 'stopped' : 'pending';
}

/**
 * Wait (bounded) for a spawner's start() to settle after the attempt was aborted. The manager
 * stops the attempt as soon as the abort fires, but start() may be between two awaits and about
 * to create a process, a service or a job; stop() called before that would find nothing and
 * leave the new thing running. Every kind's start() checks the signal after each step, so this
 * is short; the bound keeps a kind that ignores the signal from holding the cleanup forever.
 */
export async function startSettled(start: Promise<unknown> | null, maxMs = 30_000): Promise<void> {
  if (!start) return;
  await Promise.race([start.then(() => undefined, () => undefined), sleep(maxMs)]);
}
