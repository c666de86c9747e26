/**
 * One LDAP conversation with failover: try each server URL in order, upgrade with StartTLS when
 * configured, run the caller's session, and tell "the directory answered no" (a result code,
 * passed through) apart from "no directory could be asked" (`LdapUnavailableError`).
 *
 * Every step is bounded: ldapts's connectTimeout covers the TCP connect, its per-operation
 * timeout covers each request, and StartTLS's handshake (which ldapts does not time) is raced
 * against the operation timeout here.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { ldapConnectionProblems } from './check.js';
import { Client, ResultCodeError, BusyError, UnavailableError, MessageParserError } from 'ldapts';
import type { Logger } from 'pino';
import { AtriumError, isAtriumError } from '../errors.js';

// The option schema lives apart so that loading the config schema does not load ldapts.
export { LdapConnectionProps, type LdapConnectionOptions } from './connection-options.js';
import type { LdapConnectionOptions } from './connection-options.js';

/** No configured server could be asked (ATRIUM_ERR_LDAP_UNAVAILABLE). `detail` lists each URL and why (for the log only). */
export class LdapUnavailableError extends AtriumError {
  declare readonly detail: string;
  constructor(detail: string) {
    super('ATRIUM_ERR_LDAP_UNAVAILABLE', undefined, { detail });
    this.name = 'LdapUnavailableError';
  }
}

/** An error the server sent as an LDAP result code (wrong password, no such object, ...). */
export function isLdapResult(err: unknown): err is ResultCodeError {
  return err instanceof ResultCodeError;
}

/**
 * Did the conversation fail below LDAP (refused, reset, timed out, TLS)? Only those fail over.
 * ldapts reports them as plain Errors (or Node errors with a `code`); anything else a session
 * throws — a result code, the caller's own HookError, a bug's TypeError — is passed through.
 */
export function isTransportError(err: unknown): boolean {
  // A catalogued error (the caller's HookError, a TemplateError) has a string `code` too, but it is
  // the session's own answer, not the connection failing.
  if (!(err instanceof Error) || err instanceof ResultCodeError || isAtriumError(err)) return false;
  if (err instanceof MessageParserError) return true;
  if (typeof (err as NodeJS.ErrnoException).code === 'string') return true;
  return err.constructor === Error && /time(d)? ?out|socket|connection|closed|ECONN|TLS|certificate/i.test(err.message);
}

/** Result codes that mean "this server cannot serve now": fail over instead of answering. */
function isServerUnavailableAnswer(err: unknown): boolean {
  return err instanceof BusyError || err instanceof UnavailableError;
}

/**
 * `work`, or a rejection as soon as `signal` aborts: a server that accepted the connection and
 * never answers would otherwise hold the caller until the operation timeouts.
 */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  work.catch(() => undefined);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

export class LdapConnector {
  private readonly tlsOptions: ConnectionOptions;
  private readonly connectTimeoutMs: number;
  private readonly operationTimeoutMs: number;

  constructor(
    private readonly opts: LdapConnectionOptions,
    private readonly log: Logger,
  ) {
    // The config loader reports these with lines; repeated so no options object skips them.
    const problems = ldapConnectionProblems(opts, true);
    if (problems.length) throw new Error(problems.map((p) => `${p.segments.join('.')}: ${p.message}`).join('; '));
    if (opts.tls === 'insecure') log.warn({ urls: opts.urls }, 'LDAP without TLS: passwords travel in clear text (tests only)');
    // Read once at start-up so a missing CA file is a configuration error, not a login failure.
    this.tlsOptions = opts.caFile ? { ca: readFileSync(opts.caFile), rejectUnauthorized: true } : { rejectUnauthorized: true };
    this.connectTimeoutMs = Math.round(opts.connectTimeoutSeconds * 1000);
    this.operationTimeoutMs = Math.round(opts.operationTimeoutSeconds * 1000);
  }

  /**
   * Run `session` on the first server that can be reached. Errors the server answered with
   * (ResultCodeError) are rethrown as they are; transport failures and busy/unavailable answers
   * move on to the next URL; when none is left, LdapUnavailableError. The session may therefore
   * run more than once (on different servers), so it must be safe to repeat.
   */
  async withClient<T>(session: (client: Client) => Promise<T>, signal?: AbortSignal): Promise<T> {
    const failures: string[] = [];
    for (const url of this.opts.urls) {
      if (signal?.aborted) throw new LdapUnavailableError(`aborted before ${url}: ${String(signal.reason)}`);
      const client = this.newClient(url);
      try {
        const work = (async () => {
          if (this.opts.tls === 'starttls') await this.startTls(client, url);
          return session(client);
        })();
        return await untilAborted(work, signal);
      } catch (err) {
        // The caller gave up (spawn cancelled, hook timeout): stop here, try no other server.
        if (signal?.aborted) throw new LdapUnavailableError(`aborted while asking ${url}: ${String(signal.reason)}`);
        if (!isServerUnavailableAnswer(err) && !isTransportError(err)) throw err;
        const why = err instanceof Error ? err.message : String(err);
        failures.push(`${url}: ${why}`);
        this.log.warn({ url, err: why }, 'LDAP server unreachable, trying the next one');
      } finally {
        // unbind() on a dead socket can hang or throw; never let cleanup decide the outcome.
        void client.unbind().catch(() => undefined);
      }
    }
    throw new LdapUnavailableError(failures.join('; '));
  }

  private newClient(url: string): Client {
    return new Client({
      url,
      connectTimeout: this.connectTimeoutMs,
      timeout: this.operationTimeoutMs,
      // ldapts switches to TLS-from-the-first-byte whenever tlsOptions is set, even for
      // ldap:// URLs, so only ldaps gets them here; StartTLS passes them to startTLS().
      ...(this.opts.tls === 'ldaps' ? { tlsOptions: this.tlsOptions } : {}),
      strictDN: true,
    });
  }

  private async startTls(client: Client, url: string): Promise<void> {
    const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
    // Without host/servername Node checks the certificate against "localhost", not the server.
    const opts: ConnectionOptions = { ...this.tlsOptions, host, ...(isIP(host) ? {} : { servername: host }) };
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('StartTLS timed out')), this.connectTimeoutMs + this.operationTimeoutMs);
    });
    try {
      await Promise.race([client.startTLS(opts), timeout]);
    } catch (err) {
      // A server that refuses StartTLS answers with a result code; that is still "cannot use
      // this server securely", not an answer about the user, so wrap it as a transport error.
      const why = err instanceof Error ? err.message : String(err);
      throw new Error(`StartTLS failed: ${why}`);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** First value of an attribute of a search entry, as a string. */
export function firstValue(entry: Record<string, unknown>, attr: string): string | undefined {
  const key = Object.keys(entry).find((k) => k.toLowerCase() === attr.toLowerCase());
  if (!key) return undefined;
  const v = entry[key];
  const first = Array.isArray(v) ? v[0] : v;
  if (first === undefined || first === null) return undefined;
  return Buffer.isBuffer(first) ? first.toString('utf8') : String(first);
}

/** All values of an attribute (case-insensitive name), as strings. */
export function allValues(entry: Record<string, unknown>, attr: string): string[] {
  const key = Object.keys(entry).find((k) => k.toLowerCase() === attr.toLowerCase());
  if (!key) return [];
  const v = entry[key];
  const list = Array.isArray(v) ? v : [v];
  return list.filter((x) => x !== undefined && x !== null).map((x) => (Buffer.isBuffer(x) ? x.toString('utf8') : String(x)));
}

/** Compare DNs loosely (case and spaces after commas), enough for group DN lists from config. */
export function sameDn(a: string, b: string): boolean {
  const norm = (s: string) => s.replace(/\s*([,=])\s*/g, '$1').toLowerCase();
  return norm(a) === norm(b);
}
