/**
 * The login pipeline around every authenticator (src/hub/auth/pipeline.ts, contracts §6.1):
 * normalise, usernameMap, validate, blocked/allowed/admin lists and groups, auth_state
 * stored encrypted. Unit tests against a real database, no HTTP.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { parseConfig } from '../../../src/hub/config/loader.js';
import type { AtriumConfig } from '../../../src/hub/config/schema.js';
import type { HubContext } from '../../../src/hub/context.js';
import { openStores } from '../../../src/hub/db/index.js';
import { AuthStateCipher } from '../../../src/hub/auth/crypto.js';
import { Metrics } from '../../../src/hub/metrics.js';
import { checkedUsername, completeLogin } from '../../../src/hub/auth/pipeline.js';
import { readAuthState } from '../../../src/hub/auth/auth-state.js';
import { AtriumError } from '../../../src/hub/errors.js';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function fakeHub(authenticator: Record<string, unknown> = {}, key = randomBytes(32).toString('hex')): HubContext {
  const dir = mkdtempSync(join(tmpdir(), 'atrium-pipeline-'));
  dirs.push(dir);
  const config = parseConfig(JSON.stringify({ hub: { stateDir: dir }, authenticator: { kind: 'dummy', ...authenticator } }), 'test.yaml', {}) as AtriumConfig;
  return {
    config,
    log: pino({ level: 'silent' }),
    stores: openStores(join(dir, 'db.sqlite')),
    cipher: new AuthStateCipher(key),
    metrics: new Metrics(),
  } as unknown as HubContext;
}

function refused(fn: () => unknown, code: string) {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AtriumError);
    expect((err as AtriumError).code).toBe(code);
    return;
  }
  throw new Error('expected a refusal');
}

describe('normalisation and validation', () => {
  const hub = fakeHub({ usernameMap: { 'Alice@EXAMPLE.org': 'alice', 'root': 'not-root' } });

  it('lowercases', () => {
    expect(completeLogin(hub, { name: 'BoB' }).name).toBe('bob');
    expect(checkedUsername(hub, 'Zoe.Smith@Uni-X')).toBe('zoe.smith@uni-x');
  });

  it('applies usernameMap (exact or lowercased key)', () => {
    expect(completeLogin(hub, { name: 'Alice@EXAMPLE.org' }).name).toBe('alice');
    expect(completeLogin(hub, { name: 'ROOT' }).name).toBe('not-root');
  });

  it('refuses hostile names and creates nobody', () => {
    const before = hub.stores.users.list({}).length;
    for (const name of ['', '../x', '..', '.', 'a/b', 'a\\b', 'x'.repeat(300), 'a\u0000b', 'a\nb', 'a\tb', ' lead', 'trail ', '\u0430lice', 'a b', '%2e%2e', 'a\u2028b', '<script>']) {
      // Refused with the reason and the rule (name-explain.ts), not "Invalid username or password".
      refused(() => completeLogin(hub, { name }), 'ATRIUM_ERR_AUTH_BAD_NAME');
      refused(() => checkedUsername(hub, name), 'ATRIUM_ERR_AUTH_BAD_NAME');
    }
    expect(hub.stores.users.list({}).length).toBe(before);
  });
});

describe('allowed, blocked and admin lists', () => {
  it('allowedUsers: only they (normalised) may log in; users created by an admin stay allowed', () => {
    const hub = fakeHub({ allowedUsers: ['Ann', 'ben'] });
    expect(completeLogin(hub, { name: 'ann' }).name).toBe('ann');
    expect(completeLogin(hub, { name: 'BEN' }).name).toBe('ben');
    refused(() => completeLogin(hub, { name: 'carl' }), 'ATRIUM_ERR_AUTH_NOT_ALLOWED');
    expect(hub.stores.users.get('carl')).toBeUndefined();
    hub.stores.users.create('carl');
    expect(completeLogin(hub, { name: 'carl' }).name).toBe('carl');
  });

  it('blockedUsers win over everything', () => {
    const hub = fakeHub({ allowedUsers: ['dan'], blockedUsers: ['DAN', 'eve'], adminUsers: ['eve'] });
    refused(() => completeLogin(hub, { name: 'dan' }), 'ATRIUM_ERR_AUTH_NOT_ALLOWED');
    refused(() => completeLogin(hub, { name: 'eve', admin: true }), 'ATRIUM_ERR_AUTH_NOT_ALLOWED');
  });

  it('allowAll false with no lists refuses everyone', () => {
    const hub = fakeHub({ allowAll: false });
    refused(() => completeLogin(hub, { name: 'fay' }), 'ATRIUM_ERR_AUTH_NOT_ALLOWED');
    expect(hub.stores.users.get('fay')).toBeUndefined();
  });

  it('allowedGroups lets members in; others out', () => {
    const hub = fakeHub({ allowedGroups: ['staff'] });
    expect(completeLogin(hub, { name: 'gus', groups: ['staff', 'x'] }).name).toBe('gus');
    refused(() => completeLogin(hub, { name: 'hal', groups: ['x'] }), 'ATRIUM_ERR_AUTH_NOT_ALLOWED');
    refused(() => completeLogin(hub, { name: 'hal' }), 'ATRIUM_ERR_AUTH_NOT_ALLOWED');
  });

  it('adminUsers and adminGroups make admins; the authenticator may decide', () => {
    const hub = fakeHub({ adminUsers: ['Ida'], adminGroups: ['ops'] });
    expect(completeLogin(hub, { name: 'ida' }).admin).toBe(1);
    expect(completeLogin(hub, { name: 'jo', groups: ['ops'] }).admin).toBe(1);
    expect(completeLogin(hub, { name: 'kim' }).admin).toBe(0);
    expect(completeLogin(hub, { name: 'kim', admin: true }).admin).toBe(1);
    expect(completeLogin(hub, { name: 'kim', admin: false }).admin).toBe(0);
  });

  it('manageGroups syncs membership from the authenticator', () => {
    const hub = fakeHub({ manageGroups: true });
    const u = completeLogin(hub, { name: 'lou', groups: ['a', 'b'] });
    expect(hub.stores.groups.groupsOf(u.id).sort()).toEqual(['a', 'b']);
    completeLogin(hub, { name: 'lou', groups: ['b'] });
    expect(hub.stores.groups.groupsOf(u.id)).toEqual(['b']);
  });
});

describe('auth_state', () => {
  it('stored encrypted; readable with the key; a rotated key list still reads it; tampering gives null', () => {
    const oldKey = randomBytes(32).toString('hex');
    const hub = fakeHub({}, oldKey);
    const secret = { access_token: 'tok-PLAINTEXT-123', mount: { PRIVATEKEY: 'KEYDATA' } };
    const u = completeLogin(hub, { name: 'max', authState: secret });
    const raw = (hub.stores.db.prepare('SELECT auth_state FROM users WHERE id = ?').get(u.id) as { auth_state: Buffer }).auth_state;
    expect(raw.toString('latin1')).not.toContain('PLAINTEXT');
    expect(raw.toString('latin1')).not.toContain('KEYDATA');
    expect(readAuthState(hub, hub.stores.users.get('max')!)).toEqual(secret);
    // rotate: new key first, old key still listed
    const rotated = { ...hub, cipher: new AuthStateCipher(`${randomBytes(32).toString('hex')};${oldKey}`) } as HubContext;
    expect(readAuthState(rotated, hub.stores.users.get('max')!)).toEqual(secret);
    // tampered blob: treated as empty, never thrown at the user
    const t = Buffer.from(raw);
    t[t.length - 1] = t[t.length - 1]! ^ 1;
    expect(readAuthState(hub, { ...hub.stores.users.get('max')!, auth_state: t })).toBeNull();
    // a later login without auth_state keeps the stored one
    completeLogin(hub, { name: 'max' });
    expect(readAuthState(hub, hub.stores.users.get('max')!)).toEqual(secret);
  });
});
