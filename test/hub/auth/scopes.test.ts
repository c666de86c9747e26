/** Unit tests for src/hub/auth/scopes.ts (JupyterHub 3 RBAC, contracts §1.8, §2.1). */
import { describe, expect, it } from 'vitest';
import { checkScopes, expandScopes, intersectScopes, isValidScope, parseScope, roleScopes, canSee } from '../../../src/hub/auth/scopes.js';

const noGroups = () => [] as string[];
const groups: Record<string, string[]> = { alice: ['physics'], bob: [] };
const groupsOf = (u: string) => groups[u] ?? [];

describe('parseScope / isValidScope', () => {
  it('parses names and filters', () => {
    expect(parseScope('read:users')).toEqual({ name: 'read:users', filter: null });
    expect(parseScope('read:users!user=alice')).toEqual({ name: 'read:users', filter: { kind: 'user', value: 'alice' } });
    expect(parseScope('access:servers!server=alice/nb')).toEqual({ name: 'access:servers', filter: { kind: 'server', value: 'alice/nb' } });
    expect(parseScope('users:activity!user')).toEqual({ name: 'users:activity', filter: null, bareFilter: 'user' });
    expect(() => parseScope('read:users!bogus=x')).toThrow();
  });

  it('knows which scopes exist', () => {
    for (const s of ['self', 'inherit', 'admin:users', 'list:users', 'read:users!group=g', 'access:servers!server=a/']) expect(isValidScope(s), s).toBe(true);
    for (const s of ['', 'nonsense', 'read:users!x=y', 'read:users!', 'bogus!user=a']) expect(isValidScope(s), s).toBe(false);
  });
});

describe('expandScopes', () => {
  it('self → the user scopes filtered to the owner', () => {
    const s = expandScopes(['self'], 'alice');
    expect(s.has('servers!user=alice')).toBe(true);
    expect(s.has('read:users:name!user=alice')).toBe(true);
    expect(s.has('access:servers!user=alice')).toBe(true);
    expect([...s].every((x) => x.endsWith('!user=alice'))).toBe(true);
  });

  it('subscopes recursively, keeping the filter', () => {
    const s = expandScopes(['admin:users'], 'x');
    for (const sub of ['users', 'read:users', 'list:users', 'read:users:name', 'users:activity', 'admin:auth_state', 'delete:users']) expect(s.has(sub), sub).toBe(true);
    const f = expandScopes(['read:users!user=bob'], 'x');
    expect([...f].sort()).toEqual(['read:users!user=bob', 'read:users:activity!user=bob', 'read:users:groups!user=bob', 'read:users:name!user=bob']);
  });

  it('bare !user and !server filters are filled in', () => {
    expect([...expandScopes(['users:activity!user'], 'erin')].sort()).toEqual(['read:users:activity!user=erin', 'users:activity!user=erin']);
    expect([...expandScopes(['access:servers!server'], 'erin', 'erin/nb')]).toEqual(['access:servers!server=erin/nb']);
  });

  it('the server role expands to the captured set (plus identify scopes elsewhere)', () => {
    expect([...expandScopes(roleScopes(['server']), 'erin')].sort()).toEqual([
      'access:servers!user=erin',
      'read:users:activity!user=erin',
      'users:activity!user=erin',
    ]);
  });
});

describe('intersectScopes', () => {
  it('narrows unfiltered token scopes to the owner filter', () => {
    const owner = expandScopes(['self'], 'alice');
    const t = expandScopes(['read:users'], 'alice');
    const out = intersectScopes(t, owner, noGroups);
    expect(out.has('read:users')).toBe(false);
    expect(out.has('read:users!user=alice')).toBe(true);
  });

  it('drops what the owner does not hold', () => {
    const owner = expandScopes(['self'], 'alice');
    expect([...intersectScopes(new Set(['admin:users', 'read:users!user=bob']), owner, noGroups)]).toEqual([]);
  });

  it('keeps a group-filtered owner scope for a user filter inside the group', () => {
    const owner = new Set(['read:users!group=physics']);
    expect([...intersectScopes(new Set(['read:users!user=alice']), owner, groupsOf)]).toEqual(['read:users!user=alice']);
    expect([...intersectScopes(new Set(['read:users!user=bob']), owner, groupsOf)]).toEqual([]);
  });

  it('inherit is never a scope of its own', () => {
    expect([...intersectScopes(new Set(['inherit']), new Set(['read:users']), noGroups)]).toEqual([]);
  });
});

describe('checkScopes (the @needs_scope decision)', () => {
  it('forbidden when no listed scope is held at all', () => {
    expect(checkScopes(new Set(['read:users!user=a']), ['list:users'], {}, noGroups)).toBe('forbidden');
    expect(checkScopes(new Set(), ['read:users'], { user: 'a' }, noGroups)).toBe('forbidden');
  });

  it('ok unfiltered; ok with a matching user, server or group filter', () => {
    expect(checkScopes(new Set(['read:users']), ['read:users'], { user: 'a' }, noGroups)).toBe('ok');
    expect(checkScopes(new Set(['read:users!user=alice']), ['read:users'], { user: 'alice' }, noGroups)).toBe('ok');
    expect(checkScopes(new Set(['servers!server=alice/nb']), ['servers'], { server: 'alice/nb' }, noGroups)).toBe('ok');
    expect(checkScopes(new Set(['servers!user=alice']), ['servers'], { server: 'alice/nb' }, noGroups)).toBe('ok');
    expect(checkScopes(new Set(['read:users!group=physics']), ['read:users'], { user: 'alice' }, groupsOf)).toBe('ok');
    expect(checkScopes(new Set(['read:groups!group=physics']), ['read:groups'], { group: 'physics' }, groupsOf)).toBe('ok');
  });

  it('no-access (404) with a non-matching filter', () => {
    expect(checkScopes(new Set(['read:users!user=alice']), ['read:users'], { user: 'bob' }, noGroups)).toBe('no-access');
    expect(checkScopes(new Set(['servers!server=alice/nb']), ['servers'], { server: 'alice/' }, noGroups)).toBe('no-access');
    expect(checkScopes(new Set(['read:users!group=physics']), ['read:users'], { user: 'bob' }, groupsOf)).toBe('no-access');
    // a user named like a server prefix does not match
    expect(checkScopes(new Set(['servers!user=ali']), ['servers'], { server: 'alice/' }, noGroups)).toBe('no-access');
  });

  it('filter when held only filtered and no resource is named', () => {
    expect(checkScopes(new Set(['list:users!user=alice']), ['list:users'], {}, noGroups)).toBe('filter');
  });

  it('canSee for model filtering', () => {
    expect(canSee(new Set(['read:users:name!user=a']), 'read:users:name', 'a', noGroups)).toBe(true);
    expect(canSee(new Set(['read:users:name!user=a']), 'read:users:name', 'b', noGroups)).toBe(false);
  });
});
