/**
 * LDAP end to end through the hub: users log in against a real slapd, the LDAP account hook
 * gives them a POSIX account before the spawn, and the session runs as that uid with NB_UID in
 * its environment. A directory that is down gives the user a 503 page, not a 500.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, STUB_NODE, startTestHub, waitFor, type TestHub } from './harness.js';
import { BASE_DN, COUNTER_DN, FIRST_UID, ROOT_DN, ROOT_PW, USERS, startSlapd, type Slapd } from '../services/slapd.js';
import { freePort, worldReadableCopy } from '../services/util.js';
import { catalogue } from '../../src/shared/errors.js';
import { esc } from '../../src/hub/pages/layout.js';

const PEOPLE = `ou=people,${BASE_DN}`;
const isRoot = process.getuid?.() === 0;

describe('LDAP login and account hook through the hub', () => {
  let slapd: Slapd;
  let th: TestHub;
  beforeAll(async () => {
    slapd = await startSlapd();
    th = await startTestHub({
      authenticator: {
        kind: 'ldap',
        ldap: { urls: [slapd.url], tls: 'starttls', caFile: slapd.caFile, bindDnTemplates: [`uid={username},${PEOPLE}`] },
      },
      hooks: [
        {
          kind: 'ldap-account',
          timeoutSeconds: 20,
          ldapAccount: {
            urls: [slapd.url],
            tls: 'starttls',
            caFile: slapd.caFile,
            bindDn: ROOT_DN,
            bindPassword: ROOT_PW,
            // Accounts live in their own branch, so the login entries (ou=people) are not reused.
            searchBase: `ou=accounts,${BASE_DN}`,
            dnTemplate: `uid={username},ou=accounts,${BASE_DN}`,
            counterDn: COUNTER_DN,
          },
        },
      ],
      // As root the session really runs as the uid the hook allocated.
      // The stub is copied somewhere the session's uid can read (the checkout may be under 0700).
      spawner: { local: isRoot ? { runAs: 'system-user', cmd: ['node', worldReadableCopy(STUB_NODE)] } : {} },
    });
  }, 120_000);
  afterAll(async () => {
    await th?.teardown();
    await slapd?.stop();
  });

  it('refuses a wrong password with the login form, never a 500', async () => {
    const b = new Browser(th.url);
    const { res } = await b.login('alice', 'wrong');
    expect(res.status).toBe(403);
    expect(await res.text()).toContain('Invalid username or password');
  });

  it('logs in, creates the account, and the session sees NB_UID', async () => {
    const b = new Browser(th.url);
    await b.login('alice', USERS.alice);
    const env = await waitFor(async () => {
      const r = await b.request('GET', '/user/alice/env');
      return r.status === 200 ? ((await r.json()) as Record<string, string>) : null;
    }, 30_000, 200);
    const uid = Number(env.NB_UID);
    expect(uid).toBeGreaterThanOrEqual(FIRST_UID);
    expect(env.NB_USER).toBe('alice');
    const hub = th.running.hub;
    const row = hub.stores.servers.get(hub.stores.users.get('alice')!.id, '')!;
    const pid = (JSON.parse(row.state) as { pid: number }).pid;
    if (isRoot) {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      expect(/^Uid:\s+(\d+)/m.exec(status)![1]).toBe(String(uid));
    }
    // A second spawn reuses the entry: same uid.
    const admin = th.token('admin');
    expect([202, 204]).toContain((await th.api('DELETE', '/users/alice/server', { token: admin })).status);
    await waitFor(() => !hub.spawns.get('alice', ''), 20_000);
    expect([201, 202]).toContain((await th.api('POST', '/users/alice/server', { token: admin })).status);
    const env2 = await waitFor(async () => {
      const r = await b.request('GET', '/user/alice/env');
      return r.status === 200 ? ((await r.json()) as Record<string, string>) : null;
    }, 30_000, 200);
    expect(env2.NB_UID).toBe(env.NB_UID);
  }, 90_000);
});

describe('LDAP directory down', () => {
  let th: TestHub;
  beforeAll(async () => {
    th = await startTestHub({
      authenticator: {
        kind: 'ldap',
        ldap: { urls: [`ldap://127.0.0.1:${await freePort()}`], tls: 'insecure', bindDnTemplates: [`uid={username},${PEOPLE}`], connectTimeoutSeconds: 2 },
      },
    });
  });
  afterAll(async () => {
    await th?.teardown();
  });

  it('shows a 503 "directory unavailable" page', async () => {
    const b = new Browser(th.url);
    const { res } = await b.login('alice', 'pw');
    expect(res.status).toBe(503);
    const html = await res.text();
    // The catalogue's wording, not the authenticator's terse reason; the failing URL is log-only.
    expect(html).toContain(esc(catalogue.ATRIUM_ERR_AUTH_UNAVAILABLE.message));
    expect(html).not.toContain('ldap://');
    expect(html).not.toMatch(/at .*\.(ts|js):\d+/);
  });
});
