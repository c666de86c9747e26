/**
 * LdapAccountHook: before a spawn, find the user's POSIX account in LDAP or create it, then hand
 * the spawner NB_USER / NB_UID / NB_GID / HOME from that entry so the session runs as that uid.
 *
 * Idempotent by construction: the entry is found by its unique attributes first, and a
 * concurrent creation of the same entry (AlreadyExists) falls back to the entry that won.
 */
import { AlreadyExistsError, type Client, type Entry } from 'ldapts';
import type { Logger } from 'pino';
import {
  LdapConnector,
  escapeDnValue,
  escapeFilterValue,
  fillTemplate,
  isLdapResult,
  noEscape,
} from '../../shared/ldap/index.js';
import { hasCode, isAtriumError } from '../../shared/errors.js';
import { HookError, type Hook, type HookContext, type PreSpawnResult } from '../hook.js';
import type { LdapAccountHookOptions } from './options.js';
import { assertNoOptionProblems } from '../../shared/kind.js';
import { checkLdapAccountOptions } from './check.js';
import { UidCounter } from './uid-counter.js';

type Required<T, K extends keyof T> = T & { [P in K]-?: NonNullable<T[P]> };
type Config = Required<LdapAccountHookOptions, 'urls' | 'bindDn' | 'bindPassword' | 'searchBase' | 'dnTemplate' | 'counterDn'>;

export class LdapAccountHook implements Hook {
  readonly name = 'LDAP account hook';
  readonly counter: UidCounter;
  private readonly opts: Config;
  private readonly connector: LdapConnector;

  constructor(options: LdapAccountHookOptions, private readonly log: Logger) {
    // The config loader reports these with key paths and lines; repeated here so no options
    // object skips them (the same function: config check and start cannot disagree).
    assertNoOptionProblems('hooks[].ldapAccount', checkLdapAccountOptions(options));
    this.opts = options as Config;
    this.connector = new LdapConnector(this.opts, log);
    this.counter = new UidCounter(this.opts.counterDn, this.opts.counterAttribute, this.opts.maxAllocationAttempts);
  }

  async preSpawn(ctx: HookContext): Promise<PreSpawnResult> {
    const vars = { username: ctx.user.name, authState: ctx.authState ?? {} };
    const entry = await this.guard(() =>
      this.connector.withClient(async (client) => {
        await client.bind(this.opts.bindDn, this.opts.bindPassword);
        const found = await this.find(client, vars);
        if (found) return found;
        if (!this.opts.createMissing) throw new HookError('You have no account on this system yet; please contact the administrators');
        return this.create(client, vars, ctx);
      }, ctx.signal),
    );
    ctx.log.info({ dn: entry.dn, user: ctx.user.name }, 'LDAP account ready');
    return { env: this.envFrom(entry, vars) };
  }

  /** Map every failure to a HookError the user can read; details go to the log. */
  private async guard<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      if (hasCode(err, 'ATRIUM_ERR_LDAP_UNAVAILABLE')) throw new HookError('The account directory is unavailable; please try again later', err.detail);
      if (hasCode(err, 'ATRIUM_ERR_LDAP_TEMPLATE'))
        throw new HookError('Your account cannot be set up: your login did not provide the needed details', err.message);
      if (isAtriumError(err)) throw err;
      if (isLdapResult(err)) throw new HookError('Your account could not be set up in the directory', `${err.name}: ${err.message}`);
      throw err;
    }
  }

  private uniqueFilter(vars: Record<string, unknown>): string {
    const parts = this.opts.uniqueAttributes.map((attr) => {
      const template = [this.opts.attributes[attr]!].flat()[0]!;
      return `(${attr}=${fillTemplate(template, vars, escapeFilterValue)})`;
    });
    return parts.length === 1 ? parts[0]! : `(&${parts.join('')})`;
  }

  private async find(client: Client, vars: Record<string, unknown>): Promise<Entry | null> {
    const filter = this.uniqueFilter(vars);
    const { searchEntries } = await client.search(this.opts.searchBase, { scope: 'sub', filter, attributes: ['*'], sizeLimit: 2 });
    // Two entries for one user would make the uid a coin toss; refuse and let an admin decide.
    if (searchEntries.length > 1) throw new HookError('Your account is ambiguous in the directory; please contact the administrators', `several entries match ${filter}`);
    return searchEntries[0] ?? null;
  }

  private async create(client: Client, vars: Record<string, unknown>, ctx: HookContext): Promise<Entry> {
    const dn = fillTemplate(this.opts.dnTemplate, vars, escapeDnValue);
    const uidNumber = await this.freeUidNumber(client, ctx.signal);
    const withUid = { ...vars, uidNumber: String(uidNumber) };
    const attrs: Record<string, string[]> = { objectClass: this.opts.objectClasses, uidNumber: [String(uidNumber)] };
    for (const [attr, template] of Object.entries(this.opts.attributes))
      attrs[attr] = [template].flat().map((t) => fillTemplate(t, withUid, noEscape));
    try {
      await client.add(dn, attrs);
      ctx.log.info({ dn, uidNumber }, 'LDAP account created');
    } catch (err) {
      // Another spawn of the same user won the race: use its entry; our number is skipped.
      if (!(err instanceof AlreadyExistsError)) throw err;
      ctx.log.warn({ dn, uidNumber }, 'LDAP account created concurrently; uidNumber left unused');
    }
    const entry = await this.find(client, vars);
    if (!entry) throw new HookError('Your account could not be set up in the directory', `${dn} exists but does not match ${this.uniqueFilter(vars)}`);
    return entry;
  }

  /** Allocate until a number not already used under searchBase comes up (counter set too low). */
  private async freeUidNumber(client: Client, signal: AbortSignal): Promise<number> {
    for (let i = 0; i < 1000; i++) {
      const n = await this.counter.allocate(client, signal);
      const { searchEntries } = await client.search(this.opts.searchBase, { scope: 'sub', filter: `(uidNumber=${n})`, attributes: ['1.1'], sizeLimit: 1 });
      if (searchEntries.length === 0) return n;
      this.log.warn({ uidNumber: n, counter: this.opts.counterDn }, 'uid counter handed out a number already in use; skipping it');
    }
    throw new HookError('Could not allocate a user id', `1000 numbers from ${this.opts.counterDn} were all in use`);
  }

  private envFrom(entry: Entry, vars: Record<string, unknown>): Record<string, string> {
    // Attribute names are case-insensitive in LDAP; let {entry.uidnumber} work as well.
    const attrs: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(entry)) {
      attrs[k] = v;
      attrs[k.toLowerCase()] = v;
    }
    const env: Record<string, string> = {};
    for (const [name, template] of Object.entries(this.opts.env)) {
      try {
        env[name] = fillTemplate(template, { ...vars, entry: attrs }, noEscape);
      } catch (err) {
        if (!hasCode(err, 'ATRIUM_ERR_LDAP_TEMPLATE')) throw err;
        throw new HookError('Your account in the directory is incomplete; please contact the administrators', `${entry.dn}: ${err.message} (for ${name})`);
      }
    }
    return env;
  }

  async close(): Promise<void> {
    // One connection per spawn, closed after it; nothing pooled.
  }
}
