/**
 * HeaderAuthenticator: the front proxy (a portal, an SSO gateway) has already logged the user
 * in and says who it is in a header (Remote-User, or a JWT it signed). Further headers (the
 * portal's X-Auth-State JSON with host, user and key) are parsed into auth_state for spawners
 * and hooks.
 *
 * The only thing standing between a header and an identity is the peer check: a header from
 * any address outside trustedProxies is refused, not ignored, so a misrouted request is loud.
 */
import { hasCode } from '../../shared/errors.js';
import type { Logger } from 'pino';
import { cidrMatcher } from '../../shared/cidr.js';
import {
  AuthRefusedError,
  type AuthRequest,
  type AuthResult,
  type Authenticator,
  type AuthenticatorKind,
} from '../authenticator.js';
import { checkHeaderOptions } from './check.js';
import { createJwtVerifier, type JwtVerifier } from './jwt.js';
import type { AuthStateHeader, HeaderAuthenticatorOptions } from './options.js';
import {
  applyTextRules,
  compileTextRules,
  decodeBase64,
  hasControlCharacters,
  parseJsonObject,
  readHeader,
  type CompiledTextRules,
} from './values.js';

/** A name longer than this is no user name, whatever the header limit allows (JWTs are long). */
const MAX_NAME_LENGTH = 255;

interface CompiledStateHeader extends AuthStateHeader {
  rules: CompiledTextRules;
}

export class HeaderAuthenticator implements Authenticator {
  readonly mode = 'request' as const;
  private readonly isTrusted: (address: string) => boolean;
  private readonly userRules: CompiledTextRules;
  private readonly stateHeaders: CompiledStateHeader[];
  private readonly verifyJwt?: JwtVerifier;

  constructor(
    private readonly options: HeaderAuthenticatorOptions,
    private readonly log: Logger,
  ) {
    // The loader reports these with lines; repeated here so no options object skips them.
    const problems = checkHeaderOptions(options, true);
    if (problems.length) {
      throw new Error(
        `HeaderAuthenticator: ${problems.map((p) => `authenticator.header.${p.segments.join('.')}: ${p.message}`).join('; ')}`,
      );
    }
    this.isTrusted = cidrMatcher(options.trustedProxies);
    this.userRules = compileTextRules(options);
    this.stateHeaders = options.authStateHeaders.map((h) => ({ ...h, rules: compileTextRules(h) }));
    if (options.jwt) this.verifyJwt = createJwtVerifier(options.jwt);
  }

  async authenticate(request: AuthRequest): Promise<AuthResult | null> {
    const { userHeader, maxHeaderBytes } = this.options;
    if (!this.isTrusted(request.peerAddress)) {
      const sent = request.headers[userHeader.toLowerCase()] !== undefined;
      this.log.warn({ peer: request.peerAddress, identityHeaderSent: sent }, 'header login from an untrusted address refused');
      throw new AuthRefusedError(
        sent
          ? 'identity headers are only accepted from trusted proxies'
          : 'logins are only accepted through the front proxy',
        'ATRIUM_ERR_AUTH_UNTRUSTED_PROXY',
      );
    }
    try {
      const raw = readHeader(request, userHeader, maxHeaderBytes);
      if (raw === undefined) return null;

      let identity = raw;
      let groups: string[] | undefined;
      if (this.verifyJwt) {
        const claims = await this.verifyJwt(raw);
        const jwt = this.options.jwt!;
        const claim = claims[jwt.userClaim];
        if (typeof claim !== 'string' || claim === '') {
          throw new AuthRefusedError(`identity token has no "${jwt.userClaim}" claim`);
        }
        identity = claim;
        if (jwt.groupsClaim !== undefined) groups = stringList(claims[jwt.groupsClaim]);
      }

      const name = applyTextRules(identity, this.userRules, `the ${userHeader} identity`);
      if (name === '' || name.length > MAX_NAME_LENGTH || hasControlCharacters(name)) {
        throw new AuthRefusedError(`the ${userHeader} identity is not a usable user name`);
      }

      const authState: Record<string, unknown> = {};
      for (const h of this.stateHeaders) {
        const value = this.readStateHeader(request, h);
        if (value !== undefined) authState[h.key] = value;
      }
      // Key names only: auth_state holds hosts, private keys and tokens.
      this.log.info({ user: name, peer: request.peerAddress, authStateKeys: Object.keys(authState) }, 'header login');
      return {
        name,
        ...(Object.keys(authState).length ? { authState } : {}),
        ...(groups ? { groups } : {}),
      };
    } catch (e) {
      if (hasCode(e, 'ATRIUM_ERR_AUTH_REFUSED')) this.log.warn({ peer: request.peerAddress, reason: e.message }, 'header login refused');
      throw e;
    }
  }

  private readStateHeader(request: AuthRequest, h: CompiledStateHeader): unknown {
    const raw = readHeader(request, h.header, this.options.maxHeaderBytes);
    if (raw === undefined) {
      if (h.required) throw new AuthRefusedError(`required header ${h.header} is missing`);
      return undefined;
    }
    const text = h.encoding === 'base64' ? decodeBase64(raw, h.header) : raw;
    if (h.parse === 'json') return parseJsonObject(text, h.header, h.fields);
    if (hasControlCharacters(text)) throw new AuthRefusedError(`header ${h.header} contains control characters`);
    return applyTextRules(text, h.rules, `header ${h.header}`);
  }
}

function stringList(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

export const headerAuthenticatorKind: AuthenticatorKind<HeaderAuthenticatorOptions> = {
  kind: 'header',
  create: ({ options, log }) => new HeaderAuthenticator(options, log),
};
