import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Value } from '@sinclair/typebox/value';
import { Client } from 'ldapts';
import pino from 'pino';
import { HookError, type HookContext } from '../../../src/hooks/hook.js';
import { ldapAccountHookKind, LdapAccountHookOptions, type LdapAccountHook } from '../../../src/hooks/ldap-account/index.js';
import { runPreSpawn } from '../../../src/hub/hooks/run.js';
import { BASE_DN, COUNTER_DN, FIRST_UID, ROOT_DN, ROOT_PW, startSlapd, type Slapd } from '../../services/slapd.js';
import { freePort } from '../../services/util.js';
import { runHookContract } from '../contract.js';

const log = pino({ level: 'silent' });
const ACCOUNTS = `ou=accounts,${BASE_DN}`;
let slapd: Slapd;

function make(extra: Record<string, unknown> = {}): LdapAccountHook {
  const options = Value.Default(
    LdapAccountHookOptions,
    structuredClone({
      urls: [slapd.url],
      tls: 'starttls',
      caFile: slapd.caFile,
      bindDn: ROOT_DN,
      bindPassword: ROOT_PW,
      searchBase: BASE_DN,
      dnTemplate: `uid={username},${ACCOUNTS}`,
      counterDn: COUNTER_DN,
      ...extra,
    }),
  ) as LdapAccountHookOptions;
  expect(Value.Errors(LdapAccountHookOptions, options).First()).toBeUndefined();
  return ldapAccountHookKind.create({ options, log }) as LdapAccountHook;
}

function ctx(name: string, authState: Record<string, unknown> | null = null): HookContext {
  return {
    user: { name, admin: false, groups: [] },
    serverName: '',
    authState,
    env: {},
    userOptions: {},
    log,
    signal: new AbortController().signal,
  };
}

async function read(filter: string, attributes: string[] = ['*']) {
  const c = new Client({ url: slapd.url });
  try {
    await c.bind(ROOT_DN, ROOT_PW);
    return (await c.search(BASE_DN, { scope: 'sub', filter, attributes })).searchEntries;
  } finally {
    await c.unbind();
  }
}
const counter = async () => Number((await read('(objectClass=atriumUidCounter)', ['uidNext']))[0]!.uidNext);

beforeAll(async () => {
  slapd = await startSlapd();
});
afterAll(async () => {
  await slapd?.stop();
});

describe('LDAP account hook', () => {
  it('creates an entry for a new user with the next uid and returns the spawn env', async () => {
    const hook = make();
    const res = await hook.preSpawn(ctx('newbie'));
    expect(res.env).toEqual({ NB_USER: 'newbie', NB_UID: String(FIRST_UID), NB_GID: String(FIRST_UID), HOME: '/home/newbie' });
    const [entry] = await read('(uid=newbie)');
    expect(entry!.dn).toBe(`uid=newbie,${ACCOUNTS}`);
    expect(entry!.objectClass).toEqual(expect.arrayContaining(['account', 'posixAccount']));
    expect(entry!.loginShell).toBe('/bin/bash');
    expect(await counter()).toBe(FIRST_UID + 1);
  });

  it('is idempotent: a returning user keeps their uid and the counter does not move', async () => {
    const before = await counter();
    const res = await make().preSpawn(ctx('newbie'));
    expect(res.env?.NB_UID).toBe(String(FIRST_UID));
    expect(await counter()).toBe(before);
    expect(await read('(uid=newbie)')).toHaveLength(1);
  });

  it('reuses an existing seeded entry (alice, uidNumber 2001)', async () => {
    expect((await make().preSpawn(ctx('alice'))).env).toMatchObject({ NB_UID: '2001', NB_GID: '2001', HOME: '/home/alice' });
  });

  it('gives 50 concurrent first spawns 50 distinct uidNumbers', async () => {
    const hook = make();
    const before = await counter();
    const names = Array.from({ length: 50 }, (_, i) => `crowd${i}`);
    const t0 = performance.now();
    const results = await Promise.all(names.map((n) => hook.preSpawn(ctx(n))));
    const ms = performance.now() - t0;
    const uids = results.map((r) => Number(r.env!.NB_UID));
    expect(new Set(uids).size).toBe(50);
    expect([...uids].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => before + i));
    expect(await counter()).toBe(before + 50);
    // Reported, not asserted (no timing assertions): see the issue note.
    console.log(`50 concurrent allocations: ${ms.toFixed(0)} ms, ${hook.counter.stats.retries} lost races retried, at most ${hook.counter.stats.maxAttempts} attempts for one`);
    const again = await Promise.all(names.map((n) => hook.preSpawn(ctx(n))));
    expect(again.map((r) => Number(r.env!.NB_UID))).toEqual(uids);
  });

  it('concurrent spawns of the same new user end up with one entry', async () => {
    const hook = make();
    const results = await Promise.all(Array.from({ length: 5 }, () => hook.preSpawn(ctx('twin'))));
    expect(new Set(results.map((r) => r.env!.NB_UID)).size).toBe(1);
    expect(await read('(uid=twin)')).toHaveLength(1);
  });

  it('fills templates from auth state and finds the entry by it next time', async () => {
    const x509dn = '/C=DE/O=Grid/CN=Zoë (test), *\\ user';
    const hook = make({
      uniqueAttributes: ['description'],
      attributes: { uid: '{username}', cn: '{authState.x509dn}', description: '{authState.x509dn}', gidNumber: '100', homeDirectory: '/home/{username}' },
      env: { NB_USER: '{entry.uid}', NB_UID: '{entry.uidnumber}', NB_GID: '{entry.gidNumber}', X509_DN: '{entry.description}' },
    });
    const first = await hook.preSpawn(ctx('grid-user', { x509dn }));
    expect(first.env).toMatchObject({ NB_USER: 'grid-user', NB_GID: '100', X509_DN: x509dn });
    const second = await hook.preSpawn(ctx('grid-user', { x509dn }));
    expect(second.env).toEqual(first.env);
    // Missing auth state field: a readable refusal, not a crash.
    await expect(hook.preSpawn(ctx('grid-user2', null))).rejects.toThrow(/did not provide/);
  });

  it('escapes the user name in the DN', async () => {
    const res = await make().preSpawn(ctx('o,brien+x'));
    expect(res.env?.NB_USER).toBe('o,brien+x');
    // slapd hands the DN back with hex escapes (\2C); either spelling is the same single RDN.
    const [entry] = await read('(uid=o,brien+x)');
    expect(entry!.dn).toMatch(/^uid=o\\(2C|,)brien\\(2B|\+)x,ou=accounts,/i);
  });

  it('skips counter values already in use', async () => {
    await slapd.ldif(`dn: cn=lowCounter,${BASE_DN}\nobjectClass: device\nobjectClass: atriumUidCounter\ncn: lowCounter\nuidNext: 2003\n`);
    const res = await make({ counterDn: `cn=lowCounter,${BASE_DN}` }).preSpawn(ctx('lowuser'));
    // 2003 (carol) and 2004 (dave) are taken by seed users.
    expect(res.env?.NB_UID).toBe('2005');
  });

  it('refuses users without an entry when createMissing is false', async () => {
    await expect(make({ createMissing: false }).preSpawn(ctx('stranger'))).rejects.toThrow(/no account/);
  });

  it('reports a missing counter entry as a HookError', async () => {
    const err = await make({ counterDn: `cn=nope,${BASE_DN}` }).preSpawn(ctx('nocounter')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HookError);
  });

  it('rejects a unique attribute without a template at creation', () => {
    expect(() => make({ uniqueAttributes: ['employeeNumber'] })).toThrow(/employeeNumber/);
  });

  describe('directory down', () => {
    let blackhole: Server;
    let port: number;
    const sockets: Socket[] = [];
    beforeAll(async () => {
      blackhole = createServer((s) => sockets.push(s));
      await new Promise<void>((r) => blackhole.listen(0, '127.0.0.1', r));
      port = (blackhole.address() as { port: number }).port;
    });
    afterAll(async () => {
      sockets.forEach((s) => s.destroy());
      await new Promise((r) => blackhole.close(r));
    });

    it('a refused connection is a HookError naming the directory', async () => {
      const hook = make({ urls: [`ldap://127.0.0.1:${await freePort()}`] });
      await expect(hook.preSpawn(ctx('x'))).rejects.toThrow(/directory is unavailable/);
    });

    it('through the runner, a hanging directory hits the hook timeout', async () => {
      const hook = make({ urls: [`ldap://127.0.0.1:${port}`], tls: 'insecure' });
      const t0 = Date.now();
      await expect(
        runPreSpawn([{ hook, timeoutSeconds: 0.5 }], { user: { name: 'x', admin: false, groups: [] }, serverName: '', authState: null, env: {}, userOptions: {}, log }),
      ).rejects.toThrow('LDAP account hook timed out after 0.5 s');
      expect(Date.now() - t0).toBeLessThan(10_000);
    });

    it('fails over to a working server', async () => {
      const hook = make({ urls: [`ldap://127.0.0.1:${await freePort()}`, slapd.url] });
      expect((await hook.preSpawn(ctx('alice'))).env?.NB_UID).toBe('2001');
    });
  });
});

// The shared contract against this file's real slapd. `hanging` points at a server that accepts
// TCP and never answers, with timeouts far beyond the test's, so only the signal can end a call.
runHookContract('ldap-account', async () => {
  const sockets: Socket[] = [];
  const hole: Server = createServer((s) => void sockets.push(s));
  await new Promise<void>((resolve) => hole.listen(0, '127.0.0.1', resolve));
  const holeUrl = `ldap://127.0.0.1:${(hole.address() as { port: number }).port}`;
  return {
    create: () => make({ tls: 'insecure', caFile: undefined }),
    hanging: () => make({ urls: [holeUrl], tls: 'insecure', caFile: undefined, connectTimeoutSeconds: 600, operationTimeoutSeconds: 600 }),
    cleanup: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => hole.close(() => resolve()));
    },
  };
});
