/**
 * The hub's one error classifier: whatever was thrown → what the client sees (status, code,
 * message, headers) and what the log gets (level, detail). The app's error handler, the login
 * pages, the OAuth provider, the spawn manager's failure path and the progress stream all go
 * through it, so one failure reads the same everywhere.
 *
 * Expected failures are AtriumErrors (any kind's, by code); their message is for the user and their
 * detail for the log. Everything else is a bug: it gets the catalogue's generic message, level
 * 'error' and its stack in the log, never in a response.
 */
import { atriumError, catalogue, isAtriumError, type AtriumError, type ErrorCode, type LogLevel } from './errors.js';

export interface ClassifiedError {
  status: number;
  code: ErrorCode;
  /** Safe to show to the user. */
  message: string;
  headers: Record<string, string>;
  level: LogLevel;
  /** For the log only. */
  detail?: string;
  /** false for bugs: log `cause` with its stack. */
  expected: boolean;
  cause: unknown;
}

/** pino's and fastify's loggers both fit. */
export type LogSink = Record<LogLevel, (obj: object, msg: string) => void>;

export interface ClassifyOptions {
  /** The code a bug is answered with (default ATRIUM_ERR_HUB_INTERNAL, the spawn path uses SPAWN_INTERNAL). */
  unexpected?: ErrorCode;
  /** Maps errors from a lower layer (SQLite busy or gone) to catalogued ones first. */
  storage?: { httpError(err: unknown): AtriumError | null };
}

/** Fastify's own client errors, by its codes; any other 4xx it raises is a bad request. */
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'ATRIUM_ERR_HTTP_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'ATRIUM_ERR_HTTP_UNSUPPORTED_MEDIA',
};

/** A client mistake caught by fastify (or another library that sets a 4xx statusCode) as a catalogued error. */
function fromClientError(err: Error & { statusCode: number; code?: unknown }): AtriumError {
  const code = typeof err.code === 'string' ? FASTIFY_CODES[err.code] : undefined;
  if (code) return atriumError(code, undefined, { detail: err.message });
  return Object.assign(atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', err.message.slice(0, 200)), { statusCode: err.statusCode });
}

function isClientError(err: unknown): err is Error & { statusCode: number } {
  const status = (err as { statusCode?: unknown } | null)?.statusCode;
  return err instanceof Error && typeof status === 'number' && status >= 400 && status < 500;
}

export function classifyError(thrown: unknown, opts: ClassifyOptions = {}): ClassifiedError {
  let err = opts.storage?.httpError(thrown) ?? thrown;
  if (!isAtriumError(err) && isClientError(err)) err = fromClientError(err);
  if (isAtriumError(err)) {
    const entry: { status: number; level?: LogLevel } = catalogue[err.code];
    return {
      status: err.statusCode,
      code: err.code,
      message: err.message,
      headers: err.headers,
      level: entry.level ?? (err.statusCode >= 500 ? 'warn' : 'info'),
      detail: err.detail,
      expected: true,
      cause: thrown,
    };
  }
  const code = opts.unexpected ?? 'ATRIUM_ERR_HUB_INTERNAL';
  const detail = thrown instanceof Error ? thrown.stack ?? thrown.message : String(thrown);
  return { status: catalogue[code].status, code, message: catalogue[code].message, headers: {}, level: 'error', detail, expected: false, cause: thrown };
}

/**
 * Log a classified error once: expected ones at their level with code and detail, bugs at 'error'
 * with the original error (pino prints its stack). `quietInfo` skips info-level expected errors
 * without detail (a 404 is not news).
 */
export function logClassified(log: LogSink, c: ClassifiedError, msg: string, fields: Record<string, unknown> = {}, quietInfo = false): void {
  if (!c.expected) {
    log.error({ ...fields, code: c.code, err: c.cause }, `${msg}: unexpected error`);
    return;
  }
  if (quietInfo && c.level === 'info' && !c.detail) return;
  log[c.level]({ ...fields, code: c.code, reason: c.message, detail: c.detail }, msg);
}

/** The line the progress stream and the spawn-pending page show for a failed spawn. */
export function spawnFailureText(c: Pick<ClassifiedError, 'message'>): string {
  return `Spawn failed: ${c.message}`;
}
