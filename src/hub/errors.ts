/**
 * The one error catalogue. Callers throw `atriumError('CODE', detail?)` and match on `code`.
 * Expected failures carry a user-facing message and an HTTP status; the error handler logs them
 * without a stack. Anything not an AtriumError is a bug: logged with its stack, answered with a
 * generic 500 that reveals nothing.
 */

export const catalogue = {
  ATRIUM_ERR_HTTP_NOT_FOUND: { status: 404, message: 'Not Found' },
  ATRIUM_ERR_HTTP_METHOD: { status: 405, message: 'Method Not Allowed' },
  ATRIUM_ERR_HTTP_BAD_JSON: { status: 400, message: 'Invalid JSON in body of request' },
  ATRIUM_ERR_HTTP_BAD_REQUEST: { status: 400, message: 'Bad request' },
  ATRIUM_ERR_HTTP_TOO_LARGE: { status: 413, message: 'Request body is too large' },
  ATRIUM_ERR_HTTP_UNSUPPORTED_MEDIA: { status: 415, message: 'Unsupported content type' },
  ATRIUM_ERR_AUTH_FORBIDDEN: { status: 403, message: 'Forbidden' },
  ATRIUM_ERR_AUTH_SCOPE: { status: 403, message: 'Action is not authorized with current scopes' },
  ATRIUM_ERR_AUTH_NO_ACCESS: { status: 404, message: 'No access to resources or resources not found' },
  ATRIUM_ERR_AUTH_LOGIN_FAILED: { status: 403, message: 'Invalid username or password' },
  ATRIUM_ERR_AUTH_NOT_ALLOWED: { status: 403, message: 'User is not allowed to log in' },
  ATRIUM_ERR_AUTH_BAD_NAME: { status: 400, message: 'Invalid user name' },
  ATRIUM_ERR_AUTH_UNTRUSTED_PROXY: { status: 403, message: 'Identity headers are only accepted from trusted proxies' },
  ATRIUM_ERR_AUTH_REFUSED: { status: 403, message: 'Login refused' },
  ATRIUM_ERR_AUTH_UNAVAILABLE: { status: 503, message: 'The directory is unavailable; please try again later' },
  ATRIUM_ERR_AUTH_CSRF: { status: 403, message: 'Missing or invalid XSRF token' },
  ATRIUM_ERR_USER_NOT_FOUND: { status: 404, message: 'Not Found' },
  ATRIUM_ERR_USER_EXISTS: { status: 409, message: 'User already exists' },
  ATRIUM_ERR_GROUP_NOT_FOUND: { status: 404, message: 'No such group' },
  ATRIUM_ERR_GROUP_EXISTS: { status: 409, message: 'Group already exists' },
  ATRIUM_ERR_GROUP_MANAGED: { status: 400, message: 'Group management via API is disabled' },
  ATRIUM_ERR_TOKEN_NOT_FOUND: { status: 404, message: 'Token not found' },
  ATRIUM_ERR_SERVER_NOT_FOUND: { status: 404, message: 'No such server' },
  ATRIUM_ERR_SERVER_NAMED_DISABLED: { status: 400, message: 'Named servers are not enabled.' },
  ATRIUM_ERR_SERVER_NAMED_LIMIT: { status: 400, message: 'Named server limit reached' },
  ATRIUM_ERR_SERVER_BAD_NAME: { status: 400, message: 'Invalid server name. A server name is 1 to 30 characters: lowercase letters, digits and single hyphens, starting with a letter and not ending with a hyphen.' },
  ATRIUM_ERR_SERVER_RUNNING: { status: 400, message: 'Server is already running' },
  ATRIUM_ERR_SERVER_PENDING: { status: 400, message: 'Server is pending' },
  ATRIUM_ERR_SERVER_NOT_STARTING: { status: 400, message: 'Server is not starting' },
  ATRIUM_ERR_SERVER_DEFAULT_REMOVE: { status: 400, message: 'Cannot delete the default server' },
  ATRIUM_ERR_SPAWN_THROTTLED: { status: 429, message: 'Too many users trying to log in right now. Try again in a minute.' },
  ATRIUM_ERR_SPAWN_ACTIVE_LIMIT: { status: 429, message: 'Active server limit exceeded. Try again in a few minutes.' },
  ATRIUM_ERR_SPAWN_FAILED: { status: 500, message: 'Spawn failed' },
  ATRIUM_ERR_SPAWN_BAD_OPTIONS: { status: 400, message: 'Invalid spawn options' },
  ATRIUM_ERR_OAUTH_CLIENT: { status: 400, message: 'Unknown OAuth client' },
  ATRIUM_ERR_OAUTH_REDIRECT: { status: 400, message: 'Mismatching redirect URI.' },
  ATRIUM_ERR_OAUTH_ACCESS: { status: 403, message: 'You do not have permission to access this server' },
  ATRIUM_ERR_PROXY_UNAVAILABLE: { status: 503, message: 'The proxy API is unavailable' },
  ATRIUM_ERR_DB_BUSY: { status: 503, message: 'The database is busy; please try again in a few seconds' },
  ATRIUM_ERR_DB_UNAVAILABLE: { status: 503, message: 'The database is unavailable' },
  ATRIUM_ERR_SPAWNER_UNAVAILABLE: { status: 503, message: 'The cluster does not answer right now; try again in a moment' },
  ATRIUM_ERR_HUB_RESTORING: { status: 503, message: 'The hub is re-attaching servers after a restart; try again in a moment' },
  ATRIUM_ERR_INTERNAL: { status: 500, message: 'Internal Server Error' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof catalogue;

export class AtriumError extends Error {
  readonly code: ErrorCode;
  readonly statusCode: number;
  /** Extra response headers (Retry-After on 429 and 503). */
  readonly headers: Record<string, string>;
  /** For the log only; never sent to the client. */
  readonly detail?: string;

  constructor(code: ErrorCode, message?: string, opts: { detail?: string; headers?: Record<string, string> } = {}) {
    super(message ?? catalogue[code].message);
    this.name = 'AtriumError';
    this.code = code;
    this.statusCode = catalogue[code].status;
    this.headers = opts.headers ?? {};
    this.detail = opts.detail;
  }
}

export function atriumError(
  code: ErrorCode,
  message?: string,
  opts?: { detail?: string; headers?: Record<string, string> },
): AtriumError {
  return new AtriumError(code, message, opts);
}
