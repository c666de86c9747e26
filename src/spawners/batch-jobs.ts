/**
 * The batch-job contract: what the HPC portal (src/hub/jobs/) needs from a spawner kind whose
 * backend is a batch scheduler. A kind offers it through `SpawnerKind.batchJobs(options)` and
 * says so in its descriptor (`batchJobs: true`, for the config check); the hub never names the kind.
 *
 * Jobs run as the user exactly as the kind's own servers do (the same identity rules, commands
 * and client environment), and their state comes from the kind's shared poller: one query per
 * cycle covers the kind's servers and every portal job (`watch`, `onCycle`).
 */

/** Who a job runs as. `uid`/`gid`: when the kind runs commands by numeric id (LDAP accounts). */
export interface JobIdentity {
  user: string;
  uid?: number;
  gid?: number;
}

/** A job as the scheduler lists it in one cycle. */
export interface BatchJobStatus {
  id: string;
  /** The scheduler's state word (PENDING, RUNNING, COMPLETED, CANCELLED, FAILED …). */
  state: string;
  /** Why it waits or ended ('' when none). */
  reason: string;
  nodeList: string;
  /** ISO start time (estimated while pending), or null. */
  startedAt: string | null;
  timeUsed: string | null;
  timeLeft: string | null;
  /** The job's processes are gone (the state is final). */
  ended: boolean;
}

/** One poll cycle: `ok` false means the scheduler did not answer (nothing is known). */
export type BatchCycle = { ok: false } | { ok: true; covered: ReadonlySet<string>; jobs: ReadonlyMap<string, BatchJobStatus> };

export interface BatchFinal {
  state: string;
  exitCode: string | null;
  elapsed: string | null;
  stdout?: string | null;
  stderr?: string | null;
}

export interface BatchOutputChunk {
  /** File size when read. */
  size: number;
  /** Byte offset of `text` in the file. */
  offset: number;
  text: string;
}

export interface BatchJobs {
  /** runAs needs the numeric uid (the hub then takes it from the user's last session state). */
  readonly needsUid: boolean;
  /** Whether a user name can be used for jobs (it ends up in paths and command arguments). */
  validUser(name: string): boolean;
  /** The user's working directory for jobs (where the output lands by default). */
  homeDir(user: string): string;
  /**
   * Submit `script` as `who`. Resolves with the job id and the output paths the scheduler resolved.
   * Rejects with ATRIUM_ERR_JOB_REFUSED (the scheduler's reason) when the job is refused.
   */
  submit(who: JobIdentity, script: string, name: string): Promise<{ id: string; stdout: string | null; stderr: string | null }>;
  /** Cancel as `who`. Rejects with ATRIUM_ERR_SPAWNER_UNAVAILABLE when the scheduler does not answer. */
  cancel(who: JobIdentity, id: string): Promise<void>;
  /** How ended jobs ended: one query for all `ids` where the scheduler allows. */
  finalInfo(ids: string[]): Promise<Map<string, BatchFinal>>;
  /**
   * Up to `max` bytes of a job's file from `offset` (its tail when null), read as `who` — never as
   * the hub: the path is the job's, so the user chose it. ATRIUM_ERR_JOB_OUTPUT_UNAVAILABLE otherwise.
   */
  readOutput(who: JobIdentity, path: string, offset: number | null, max: number): Promise<BatchOutputChunk>;
  /** Add / remove a job id to the shared poller's cycles. */
  watch(id: string): void;
  unwatch(id: string): void;
  /** Ask for a cycle soon (after a submit or a cancel). */
  refresh(): void;
  /** Listen to every cycle of the shared poller; returns the unsubscribe function. */
  onCycle(listener: (c: BatchCycle) => void): () => void;
}
