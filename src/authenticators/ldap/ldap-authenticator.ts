/**
 * LdapAuthenticator: "who is this, if anyone" against an LDAP directory.
 *
 * Flow per login: refuse hostile input locally; find the DN (bind DN templates, or a search as
 * the search user); bind as that DN with the password; read the entry; check allowed groups;
 * collect groups and auth-state attributes. Everything runs on one connection from
 * LdapConnector, so failover and timeouts apply to the whole login.
 */
import { hasCode } from '../../shared/errors.js';
import type { Client, Entry } from 'ldapts';
import { InvalidCredentialsError } from 'ldapts';
import type { Logger } from 'pino';
import {
  AuthUnavailableError,
  type AuthRequest,
  type AuthResult,
  type Authenticator,
} from '../authenticator.js';
import {
  LdapConnector,
  LdapUnavailableError,
  allValues,
  escapeDnValue,
  escapeFilterValue,
  fillTemplate,
  firstValue,
  isLdapResult,
  sameDn,
} from '../../shared/ldap/index.js';
import type { LdapAuthenticatorOptions } from './options.js';
import { assertNoOptionProblems } from '../../shared/kind.js';
import { checkLdapOptions, membershipFilter } from './check.js';

/** Longer passwords are refused locally: no directory needs them, and they cost a round trip. */
const MAX_PASSWORD_CHARS = 1024;
export { MATCHING_RULE_IN_CHAIN } from './check.js';

type Found = { dn: string; entry: Entry };

export class LdapAuthenticator implements Authenticator {
  readonly mode = 'form' as const;
  private readonly connector: LdapConnector;
  private readonly usernamePattern: RegExp;
  private readonly membershipFilter: string;

  constructor(
    private readonly opts: LdapAuthenticatorOptions,
    private readonly log: Logger,
  ) {
    // The config loader reports these with key paths and lines; repeated here so no options
    // object skips them (the same function: config check and start cannot disagree).
    assertNoOptionProblems('authenticator.ldap', checkLdapOptions(opts, true));
    this.usernamePattern = new RegExp(opts.usernamePattern);
    this.membershipFilter = membershipFilter(opts);
    this.connector = new LdapConnector({ ...opts, urls: opts.urls! }, log);
  }

  async authenticate(_request: AuthRequest, form: Record<string, string>): Promise<AuthResult | null> {
    const username = typeof form.username === 'string' ? form.username.trim() : '';
    const password = typeof form.password === 'string' ? form.password : '';
    const refusal = this.refuseInput(username, password);
    if (refusal) {
      this.log.info({ reason: refusal }, 'LDAP login refused before contacting the directory');
      return null;
    }
    try {
      return await this.connector.withClient((client) => this.login(client, username, password));
    } catch (err) {
      if (hasCode(err, 'ATRIUM_ERR_LDAP_UNAVAILABLE')) {
        this.log.error({ detail: err.detail }, 'LDAP directory unavailable');
        throw new AuthUnavailableError('directory unavailable', err.detail);
      }
      if (isLdapResult(err)) {
        // The directory answered with something other than success for this user (no such
        // object, invalid DN syntax for odd input, insufficient access): not this user, not down.
        this.log.warn({ code: err.code, err: err.message }, 'LDAP login failed');
        return null;
      }
      throw err;
    }
  }

  /** Why the input is refused without asking the directory, or null when it may be tried. */
  private refuseInput(username: string, password: string): string | null {
    // An empty password is an "unauthenticated bind" (RFC 4513 §5.1.2): many servers answer
    // success without checking anything, so it must never reach the directory.
    if (password.length === 0) return 'empty password';
    if (username.length === 0) return 'empty user name';
    if (username.includes('\u0000') || password.includes('\u0000')) return 'NUL byte';
    if (password.length > MAX_PASSWORD_CHARS) return 'password too long';
    if (!this.usernamePattern.test(username)) return 'user name does not match usernamePattern';
    return null;
  }

  private async login(client: Client, username: string, password: string): Promise<AuthResult | null> {
    const found = this.opts.lookupDn
      ? await this.lookupAndBind(client, username, password)
      : await this.bindWithTemplates(client, username, password);
    if (!found) return null;
    const { dn, entry } = found;

    const memberOf = allValues(entry, 'memberOf');
    if (this.opts.allowedGroups.length > 0 && !(await this.inAllowedGroup(client, dn, username, memberOf))) {
      this.log.info({ dn }, 'LDAP user is in none of allowedGroups');
      return null;
    }

    const authState: Record<string, unknown> = { dn };
    for (const attr of this.opts.authStateAttributes) {
      const values = allValues(entry, attr);
      if (values.length > 0) authState[attr] = values.length === 1 ? values[0] : values;
    }
    const name = this.opts.nameFromAttribute ? firstValue(entry, this.opts.nameFromAttribute) ?? username : username;
    const groups = await this.groupNames(client, dn, username, memberOf);
    return { name, authState, ...(groups ? { groups } : {}) };
  }

  private async bindWithTemplates(client: Client, username: string, password: string): Promise<Found | null> {
    for (const template of this.opts.bindDnTemplates) {
      const dn = fillTemplate(template, { username }, escapeDnValue);
      try {
        await client.bind(dn, password);
      } catch (err) {
        if (err instanceof InvalidCredentialsError) continue;
        throw err;
      }
      return { dn, entry: await this.readEntry(client, dn) };
    }
    return null;
  }

  private async lookupAndBind(client: Client, username: string, password: string): Promise<Found | null> {
    if (this.opts.searchUserDn !== undefined) {
      try {
        await client.bind(this.opts.searchUserDn, this.opts.searchUserPassword);
      } catch (err) {
        // A misconfigured search account locks everyone out; say so in the log, answer 503.
        if (isLdapResult(err)) throw new LdapUnavailableError(`search user bind failed: ${err.message}`);
        throw err;
      }
    }
    const filter = fillTemplate(this.opts.searchFilter, { username, userAttribute: this.opts.userAttribute }, escapeFilterValue);
    const { searchEntries } = await client.search(this.opts.searchBase!, {
      scope: 'sub',
      filter,
      attributes: ['1.1'],
      sizeLimit: 2,
    });
    if (searchEntries.length !== 1) {
      if (searchEntries.length > 1) this.log.warn({ filter }, 'LDAP lookup matched several entries; refusing');
      return null;
    }
    const dn = searchEntries[0]!.dn;
    try {
      await client.bind(dn, password);
    } catch (err) {
      if (err instanceof InvalidCredentialsError) return null;
      throw err;
    }
    return { dn, entry: await this.readEntry(client, dn) };
  }

  /** The user's own entry, read as the user (as ldapauthenticator does). */
  private async readEntry(client: Client, dn: string): Promise<Entry> {
    const attributes = [...new Set(['memberOf', ...this.opts.authStateAttributes, ...(this.opts.nameFromAttribute ? [this.opts.nameFromAttribute] : [])])];
    try {
      const { searchEntries } = await client.search(dn, { scope: 'base', filter: '(objectClass=*)', attributes });
      return searchEntries[0] ?? { dn };
    } catch (err) {
      // The bind already proved the password; an ACL that hides the entry from its owner only
      // costs us the extra attributes.
      if (!isLdapResult(err)) throw err;
      this.log.warn({ dn, err: err.message }, 'could not read own LDAP entry after bind');
      return { dn };
    }
  }

  private async inAllowedGroup(client: Client, dn: string, username: string, memberOf: string[]): Promise<boolean> {
    if (this.opts.groupMembership === 'memberOf') {
      return this.opts.allowedGroups.some((g) => memberOf.some((m) => sameDn(g, m)));
    }
    const filter = fillTemplate(this.membershipFilter, { userDn: dn, username }, escapeFilterValue);
    for (const group of this.opts.allowedGroups) {
      try {
        const { searchEntries } = await client.search(group, { scope: 'base', filter, attributes: ['1.1'] });
        if (searchEntries.length > 0) return true;
      } catch (err) {
        // A configured group that does not exist is a config slip, not a reason to fail others.
        if (isLdapResult(err)) {
          this.log.warn({ group, err: err.message }, 'allowed group could not be checked');
          continue;
        }
        throw err;
      }
    }
    return false;
  }

  /** Group names for the hub (manageGroups), or undefined when not configured. */
  private async groupNames(client: Client, dn: string, username: string, memberOf: string[]): Promise<string[] | undefined> {
    if (this.opts.groupMembership === 'memberOf') {
      if (!this.opts.groupSearchBase && memberOf.length === 0) return undefined;
      // memberOf holds DNs; the name is the first RDN's value (cn=staff,ou=groups,... → staff).
      return memberOf.map((m) => rdnValue(m));
    }
    if (!this.opts.groupSearchBase) return undefined;
    const filter = fillTemplate(this.membershipFilter, { userDn: dn, username }, escapeFilterValue);
    const { searchEntries } = await client.search(this.opts.groupSearchBase, {
      scope: 'sub',
      filter,
      attributes: [this.opts.groupNameAttribute],
    });
    return searchEntries.map((e) => firstValue(e, this.opts.groupNameAttribute) ?? rdnValue(e.dn));
  }

  async close(): Promise<void> {
    // Connections are per login and closed after each; nothing is pooled.
  }
}

function rdnValue(dn: string): string {
  const m = /^[^=]+=((?:\\.|[^,\\])*)/.exec(dn);
  return (m?.[1] ?? dn).replace(/\\(.)/g, '$1');
}
