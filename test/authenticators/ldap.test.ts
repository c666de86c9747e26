import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Value } from '@sinclair/typebox/value';
import pino from 'pino';
import { AuthUnavailableError, type AuthRequest } from '../../src/authenticators/authenticator.js';
import { ldapAuthenticatorKind, LdapAuthenticatorOptions } from '../../src/authenticators/ldap/index.js';
import { BASE_DN, READER_DN, READER_PW, USERS, startSlapd, type Slapd } from '../services/slapd.js';
import { freePort } from '../services/util.js';
import { runAuthenticatorContract } from './contract.js';

const log = pino({ level: 'silent' });
const req: AuthRequest = { headers: {}, peerAddress: '127.0.0.1', method: 'POST', url: '/hub/login' };
const PEOPLE = `ou=people,${BASE_DN}`;
const GROUPS = `ou=groups,${BASE_DN}`;
let slapd: Slapd;

function make(partial: Record<string, unknown>) {
  const options = Value.Default(LdapAuthenticatorOptions, structuredClone(partial)) as LdapAuthenticatorOptions;
  expect(Value.Errors(LdapAuthenticatorOptions, options).First()).toBeUndefined();
  return ldapAuthenticatorKind.create({ options, log });
}
const plain = (extra: Record<string, unknown> = {}) =>
  make({ urls: [slapd.url], tls: 'insecure', bindDnTemplates: [`uid={username},${PEOPLE}`], ...extra });
const login = (a: ReturnType<typeof make>, username: string, password: string) => a.authenticate(req, { username, password });

/** A port nobody listens on: the directory is down. */
let deadPort = 0;
beforeAll(async () => {
  slapd = await startSlapd();
  deadPort = await freePort();
});
afterAll(async () => {
  await slapd?.stop();
});

describe('bind DN templates', () => {
  it('logs in with the right password and fills auth state', async () => {
    const a = plain({ authStateAttributes: ['mail', 'uidNumber'] });
    expect(await login(a, 'alice', USERS.alice)).toEqual({
      name: 'alice',
      authState: { dn: `uid=alice,${PEOPLE}`, mail: 'alice@example.org', uidNumber: '2001' },
    });
  });

  it('answers null for a wrong password or an unknown user', async () => {
    const a = plain();
    expect(await login(a, 'alice', 'wrong')).toBeNull();
    expect(await login(a, 'nobody', 'whatever')).toBeNull();
  });

  it('tries templates in order', async () => {
    const a = plain({ bindDnTemplates: [`uid={username},ou=nowhere,${BASE_DN}`, `uid={username},${PEOPLE}`] });
    expect((await login(a, 'bob', USERS.bob))?.name).toBe('bob');
  });

  it('refuses an empty password before contacting anything', async () => {
    // The only server is down: a bind attempt would throw AuthUnavailableError, not answer null.
    const a = make({ urls: [`ldap://127.0.0.1:${await freePort()}`], tls: 'insecure', bindDnTemplates: [`uid={username},${PEOPLE}`] });
    expect(await login(a, 'alice', '')).toBeNull();
    expect(await a.authenticate(req, { username: 'alice' })).toBeNull();
  });

  it('takes the name from an attribute when configured', async () => {
    const a = plain({ nameFromAttribute: 'uid' });
    expect((await login(a, 'ALICE', USERS.alice))?.name).toBe('alice');
  });
});

describe('DN lookup with a search user', () => {
  const lookup = (extra: Record<string, unknown> = {}) =>
    make({ urls: [slapd.url], tls: 'insecure', lookupDn: true, searchBase: PEOPLE, searchUserDn: READER_DN, searchUserPassword: READER_PW, ...extra });

  it('finds the DN and binds as it', async () => {
    const res = await login(lookup({ searchFilter: '(&(objectClass=posixAccount)({userAttribute}={username}))' }), 'carol', USERS.carol);
    expect(res?.authState?.dn).toBe(`uid=carol,${PEOPLE}`);
    expect(await login(lookup(), 'carol', 'nope')).toBeNull();
    expect(await login(lookup(), 'nobody', 'x')).toBeNull();
  });

  it('searches anonymously without a search user', async () => {
    expect((await login(lookup({ searchUserDn: undefined, searchUserPassword: undefined }), 'dave', USERS.dave))?.name).toBe('dave');
  });

  it('reports a broken search account as directory unavailable', async () => {
    await expect(login(lookup({ searchUserPassword: 'wrong' }), 'alice', USERS.alice)).rejects.toBeInstanceOf(AuthUnavailableError);
  });

  it('refuses a filter template that does not parse at creation', () => {
    expect(() => lookup({ searchFilter: '(uid={username}' })).toThrow(/searchFilter/);
  });
});

describe('allowed groups and group names', () => {
  it('member (groupOfNames)', async () => {
    const a = plain({ allowedGroups: [`cn=researchers,${GROUPS}`] });
    expect((await login(a, 'alice', USERS.alice))?.name).toBe('alice');
    expect(await login(a, 'bob', USERS.bob)).toBeNull();
  });

  it('uniqueMember (groupOfUniqueNames)', async () => {
    const a = plain({ allowedGroups: [`cn=staff,${GROUPS}`] });
    expect((await login(a, 'bob', USERS.bob))?.name).toBe('bob');
    expect(await login(a, 'alice', USERS.alice)).toBeNull();
  });

  it('memberUid (posixGroup)', async () => {
    const a = plain({ allowedGroups: [`cn=posixusers,${GROUPS}`, `cn=missing,${GROUPS}`] });
    expect((await login(a, 'carol', USERS.carol))?.name).toBe('carol');
    expect(await login(a, 'dave', USERS.dave)).toBeNull();
  });

  it('memberOf (memberof overlay)', async () => {
    const a = plain({ groupMembership: 'memberOf', allowedGroups: [`CN=researchers, ou=groups,${BASE_DN}`] });
    expect(await login(a, 'alice', USERS.alice)).toMatchObject({ name: 'alice', groups: ['researchers'] });
    expect(await login(a, 'dave', USERS.dave)).toBeNull();
  });

  it('nested (AD matching rule in chain): OpenLDAP does not know the rule, so nobody matches and nothing crashes', async () => {
    const a = plain({ groupMembership: 'nested', allowedGroups: [`cn=researchers,${GROUPS}`] });
    expect(await login(a, 'alice', USERS.alice)).toBeNull();
  });

  it('returns group names from groupSearchBase', async () => {
    const a = plain({ groupSearchBase: GROUPS });
    expect((await login(a, 'alice', USERS.alice))?.groups).toEqual(['researchers']);
    expect((await login(a, 'carol', USERS.carol))?.groups).toEqual(['posixusers']);
    expect((await login(a, 'dave', USERS.dave))?.groups).toEqual([]);
  });
});

describe('TLS', () => {
  it('StartTLS with the CA file', async () => {
    const a = plain({ tls: 'starttls', caFile: slapd.caFile });
    expect((await login(a, 'alice', USERS.alice))?.name).toBe('alice');
  });

  it('StartTLS without the CA is refused as unavailable (never falls back to plain)', async () => {
    const a = plain({ tls: 'starttls' });
    const err = await login(a, 'alice', USERS.alice).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthUnavailableError);
    expect((err as AuthUnavailableError).detail).toMatch(/certificate/i);
  });

  it('ldaps with the CA file', async () => {
    const a = plain({ urls: [slapd.ldapsUrl], tls: 'ldaps', caFile: slapd.caFile });
    expect((await login(a, 'alice', USERS.alice))?.name).toBe('alice');
  });

  it('refuses URLs that do not match the TLS mode', () => {
    expect(() => plain({ tls: 'ldaps' })).toThrow(/ldaps:\/\//);
  });
});

describe('directory down, failover', () => {
  let blackhole: Server;
  let blackholePort: number;
  const sockets: Socket[] = [];
  beforeAll(async () => {
    // Accepts TCP and never answers: only the operation timeout can end the wait.
    blackhole = createServer((s) => sockets.push(s));
    await new Promise<void>((r) => blackhole.listen(0, '127.0.0.1', r));
    blackholePort = (blackhole.address() as { port: number }).port;
  });
  afterAll(async () => {
    sockets.forEach((s) => s.destroy());
    await new Promise((r) => blackhole.close(r));
  });

  it('a refused connection gives AuthUnavailableError quickly', async () => {
    const a = plain({ urls: [`ldap://127.0.0.1:${await freePort()}`] });
    const t0 = Date.now();
    await expect(login(a, 'alice', USERS.alice)).rejects.toBeInstanceOf(AuthUnavailableError);
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it('a server that never answers times out into AuthUnavailableError', async () => {
    const a = plain({ urls: [`ldap://127.0.0.1:${blackholePort}`], operationTimeoutSeconds: 1, connectTimeoutSeconds: 1 });
    const t0 = Date.now();
    await expect(login(a, 'alice', USERS.alice)).rejects.toBeInstanceOf(AuthUnavailableError);
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it('a StartTLS server that never answers times out too', async () => {
    const a = plain({ urls: [`ldap://127.0.0.1:${blackholePort}`], tls: 'starttls', operationTimeoutSeconds: 1, connectTimeoutSeconds: 1 });
    await expect(login(a, 'alice', USERS.alice)).rejects.toBeInstanceOf(AuthUnavailableError);
  });

  it('fails over to the next URL', async () => {
    const a = plain({ urls: [`ldap://127.0.0.1:${await freePort()}`, `ldap://127.0.0.1:${blackholePort}`, slapd.url], operationTimeoutSeconds: 1 });
    expect((await login(a, 'alice', USERS.alice))?.name).toBe('alice');
    // A wrong password on the working server is an answer, not a reason to fail over.
    expect(await login(a, 'alice', 'wrong')).toBeNull();
  });
});

describe('hostile input', () => {
  const hostile = ['*', 'admin)(|(uid=*', '*)(uid=*))(|(uid=*', '\\', 'alice\u0000', ',cn=admin', `alice,${PEOPLE}`, 'x'.repeat(5000), ' alice', 'alice)', '(uid=alice)'];
  const passwords = ['*', USERS.alice, 'admin)(|(uid=*', '\\', '\u0000', 'x'.repeat(5000), ' '];

  for (const mode of ['templates', 'lookup'] as const) {
    it(`never authenticates anyone and never throws (${mode})`, async () => {
      const common = { usernamePattern: '^[\\s\\S]*$' };
      const a =
        mode === 'templates'
          ? plain(common)
          : make({ urls: [slapd.url], tls: 'insecure', lookupDn: true, searchBase: PEOPLE, searchUserDn: READER_DN, searchUserPassword: READER_PW, ...common });
      for (const u of hostile) for (const p of passwords) {
        const res = await login(a, u, p);
        // ' alice' is trimmed to alice by design (the form's user name is stripped, like JupyterHub).
        if (u === ' alice' && p === USERS.alice) expect(res?.name).toBe('alice');
        else expect(res, `${JSON.stringify(u.slice(0, 40))} / ${JSON.stringify(p.slice(0, 40))}`).toBeNull();
      }
      // Hostile passwords against a real user.
      for (const p of passwords.filter((x) => x !== USERS.alice)) expect(await login(a, 'alice', p)).toBeNull();
    });
  }

  it('the default usernamePattern refuses them before the directory', async () => {
    const a = plain();
    for (const u of hostile) expect(await login(a, u, USERS.alice).then((r) => r?.name ?? null)).toBe(u === ' alice' ? 'alice' : null);
  });
});

// The shared contract against the same real slapd (started by this file's beforeAll, which runs
// before the contract's own). usernamePattern lets every hostile name through to the directory,
// so DN and filter escaping are what stands between them and a login.
const ANY_NAME = '^[\\s\\S]*$';
runAuthenticatorContract('ldap, DN lookup', async () => ({
  create: () =>
    make({ urls: [slapd.url], tls: 'insecure', lookupDn: true, searchBase: PEOPLE, searchUserDn: READER_DN, searchUserPassword: READER_PW, usernamePattern: ANY_NAME }),
  attempt: (username, password) => ({ request: req, form: { username, password } }),
  good: { name: 'carol', password: USERS.carol, expectName: 'carol' },
  wrong: { name: 'carol', password: USERS.dave },
  unavailable: {
    create: () => make({ urls: [`ldap://127.0.0.1:${deadPort}`], tls: 'insecure', lookupDn: true, searchBase: PEOPLE }),
    attempt: { request: req, form: { username: 'carol', password: USERS.carol } },
  },
}));

runAuthenticatorContract('ldap, bind templates', async () => ({
  create: () => plain({ authStateAttributes: ['mail'], groupSearchBase: GROUPS, usernamePattern: ANY_NAME }),
  attempt: (username, password) => ({ request: req, form: { username, password } }),
  good: { name: 'alice', password: USERS.alice, expectName: 'alice' },
  wrong: { name: 'alice', password: USERS.bob },
  unavailable: {
    create: () => make({ urls: [`ldap://127.0.0.1:${deadPort}`], tls: 'insecure', bindDnTemplates: [`uid={username},${PEOPLE}`] }),
    attempt: { request: req, form: { username: 'alice', password: USERS.alice } },
  },
}));
