/**
 * The Authenticator contract: turn a login request into an identity.
 *
 * The hub owns the pipeline around `authenticate` (contracts §6.1): normalise the name, validate
 * it, apply blocked/allowed/admin users and groups, create the user, store auth state encrypted,
 * set the session cookie. An authenticator only answers "who is this, if anyone".
 */
import type { Logger } from 'pino';
import type { KindDescriptor } from '../shared/kind.js';
import { AtriumError } from '../shared/errors.js';

/** The parts of the HTTP request an authenticator may look at. */
export interface AuthRequest {
  /** Lower-cased header names, as Node gives them. */
  headers: Record<string, string | string[] | undefined>;
  /**
   * The address that connected to our proxy: the TCP peer, or one hop back in X-Forwarded-For
   * when the hub authenticated that hop (proxy proof or hub.trustedProxies; never a client's own
   * X-Forwarded-For). Header authenticators must only trust headers from configured proxies.
   */
  peerAddress: string;
  method: string;
  url: string;
}

export interface AuthResult {
  /** Raw user name; the hub normalises and validates it. */
  name: string;
  /** Stored encrypted (AES-256-GCM); handed to spawners and hooks, never shown to the user. */
  authState?: Record<string, unknown>;
  /** true/false sets admin; undefined leaves it to the hub's admin lists. */
  admin?: boolean;
  /** Group names, synced when the config lets the authenticator manage groups. */
  groups?: string[];
}

/**
 * The identity source could not be asked (directory down, timeout): ATRIUM_ERR_AUTH_UNAVAILABLE.
 * The hub answers 503 with the catalogue's message ("the directory is unavailable") and logs
 * `reason` and `detail`; it is not a failed login.
 */
export class AuthUnavailableError extends AtriumError {
  constructor(reason: string, detail?: string) {
    super('ATRIUM_ERR_AUTH_UNAVAILABLE', undefined, { detail: detail ? `${reason}: ${detail}` : reason });
    this.name = 'AuthUnavailableError';
  }
}

/**
 * The request carries an identity that must be refused outright (forged or expired JWT, malformed
 * header): ATRIUM_ERR_AUTH_REFUSED, or ATRIUM_ERR_AUTH_UNTRUSTED_PROXY when an identity header
 * came from a peer outside the trusted proxies. The hub answers 403 with `message`.
 */
export class AuthRefusedError extends AtriumError {
  constructor(message: string, code: 'ATRIUM_ERR_AUTH_REFUSED' | 'ATRIUM_ERR_AUTH_UNTRUSTED_PROXY' = 'ATRIUM_ERR_AUTH_REFUSED') {
    super(code, message);
    this.name = 'AuthRefusedError';
  }
}

export interface Authenticator {
  /**
   * 'form': the hub shows a user name + password page and calls authenticate with the form.
   * 'request': identity comes with the request (headers); the hub calls authenticate on
   * every visit to the login URL (and on any unauthenticated page when autoLogin is on).
   */
  readonly mode: 'form' | 'request';

  /**
   * True when any typed name is accepted as long as it fits the hub's user-name rule (the dummy
   * authenticator): the login page then shows that rule under the field. Directory-backed kinds
   * leave it out; their users already have valid names.
   */
  readonly anyName?: boolean;

  /**
   * Resolve with the identity, or null for "wrong user name or password" / "no identity here".
   * Throw AuthUnavailableError when the backend is down, AuthRefusedError for hostile input
   * that must not fall back to another method. Never throws for wrong credentials.
   */
  authenticate(request: AuthRequest, form: Record<string, string>): Promise<AuthResult | null>;

  /** Release connections (LDAP pools) at hub shutdown. */
  close?(): Promise<void>;
}

export interface AuthenticatorKind<Options = unknown> {
  kind: string;
  create(args: { options: Options; log: Logger }): Authenticator;
}

/** The one registration point of an authenticator kind; src/authenticators/kinds.ts lists it. */
export interface AuthenticatorDescriptor<Options = unknown> extends KindDescriptor {
  /** Import the implementation; called once at hub start, only for the configured kind. */
  load(): Promise<AuthenticatorKind<Options>>;
}
