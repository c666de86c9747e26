/**
 * The error catalogue against the source (fastify's errors test is the model): every code is
 * used somewhere in src/, documented in docs/errors.md, defined once, and errors are sorted by
 * code, never by class, in the hub.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { AtriumError, atriumError, catalogue, hasCode, isAtriumError } from '../../src/shared/errors.js';
import { renderErrorDocs } from '../../src/shared/error-docs.js';
import { SpawnError } from '../../src/spawners/spawner.js';
import { HookError } from '../../src/hooks/hook.js';
import { AuthRefusedError, AuthUnavailableError } from '../../src/authenticators/authenticator.js';
import { LdapUnavailableError, TemplateError } from '../../src/shared/ldap/index.js';
import { ConfigError } from '../../src/hub/config/loader.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const CATALOGUE_FILE = 'src/shared/errors.ts';

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? tsFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Source text without comments, so a code mentioned in a doc comment does not count as used. */
function code(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
}

const sources = tsFiles(join(root, 'src')).map((p) => ({ path: relative(root, p), text: code(readFileSync(p, 'utf8')) }));
const codes = Object.keys(catalogue) as (keyof typeof catalogue)[];

describe('the error catalogue', () => {
  it('names every code ATRIUM_ERR_<AREA>_<WHAT> with a 4xx/5xx status, a message and a when', () => {
    for (const c of codes) {
      expect(c).toMatch(/^ATRIUM_ERR_[A-Z]+_[A-Z_]+$/);
      const e = catalogue[c];
      expect(e.status, c).toBeGreaterThanOrEqual(400);
      expect(e.status, c).toBeLessThan(600);
      expect(e.message.length, c).toBeGreaterThan(0);
      expect(e.when.length, c).toBeGreaterThan(0);
    }
  });

  it('every code is used in src/ outside the catalogue', () => {
    const unused = codes.filter((c) => !sources.some((s) => s.path !== CATALOGUE_FILE && s.text.includes(`'${c}'`)));
    expect(unused).toEqual([]);
  });

  it('every code is defined once, in the catalogue only', () => {
    const definitions = sources.flatMap((s) => [...s.text.matchAll(/\b(ATRIUM_ERR_[A-Z_]+)\s*:\s*\{/g)].map((m) => ({ code: m[1]!, path: s.path })));
    for (const d of definitions) expect(d.path, d.code).toBe(CATALOGUE_FILE);
    const seen = definitions.map((d) => d.code);
    expect(seen.length).toBe(new Set(seen).size);
    expect(new Set(seen)).toEqual(new Set(codes));
  });

  it('no code outside the catalogue is thrown', () => {
    const used = new Set(sources.flatMap((s) => [...s.text.matchAll(/'(ATRIUM_ERR_[A-Z_]+)'/g)].map((m) => m[1]!)));
    expect([...used].filter((c) => !(c in catalogue))).toEqual([]);
  });

  it('docs/errors.md is up to date and has one row per code', () => {
    const onDisk = readFileSync(join(root, 'docs/errors.md'), 'utf8');
    if (onDisk !== renderErrorDocs()) throw new Error('docs/errors.md is stale: run node --import tsx scripts/gen-errors-docs.ts and commit the result');
    for (const c of codes) {
      const rows = onDisk.split('\n').filter((l) => l.startsWith(`| \`${c}\` |`));
      expect(rows, c).toHaveLength(1);
      expect(rows[0]).toContain(`| ${catalogue[c].status} |`);
    }
  });

  it('src/hub sorts errors by code: no instanceof on an error class', () => {
    const offenders = sources
      .filter((s) => s.path.startsWith('src/hub/'))
      .flatMap((s) => [...s.text.matchAll(/instanceof\s+([\w.]+)/g)].filter((m) => /Error|Timeout|Exception/.test(m[1]!) && m[1] !== 'Error').map((m) => `${s.path}: ${m[0]}`));
    expect(offenders).toEqual([]);
  });

  it('no Atrium error class is sorted with instanceof anywhere in src/ (only isAtriumError looks at the class)', () => {
    const ours = /instanceof\s+(AtriumError|SpawnError|HookError|AuthRefusedError|AuthUnavailableError|LdapUnavailableError|TemplateError|ConfigError)\b/g;
    const offenders = sources.flatMap((s) => [...s.text.matchAll(ours)].map((m) => `${s.path}: ${m[0]}`));
    expect(offenders).toEqual([`${CATALOGUE_FILE}: instanceof AtriumError`]);
  });
});

describe('the code-carrying errors', () => {
  it('each kind\'s error class carries its code, status and log-only detail', () => {
    const cases: [AtriumError, string, number][] = [
      [new SpawnError('no such image', 'docker said 404'), 'ATRIUM_ERR_SPAWN_FAILED', 500],
      [new HookError('no account'), 'ATRIUM_ERR_HOOK_REFUSED', 500],
      [new AuthRefusedError('token expired'), 'ATRIUM_ERR_AUTH_REFUSED', 403],
      [new AuthRefusedError('not from the proxy', 'ATRIUM_ERR_AUTH_UNTRUSTED_PROXY'), 'ATRIUM_ERR_AUTH_UNTRUSTED_PROXY', 403],
      [new AuthUnavailableError('directory unavailable', 'ldap://x: ECONNREFUSED'), 'ATRIUM_ERR_AUTH_UNAVAILABLE', 503],
      [new LdapUnavailableError('ldap://x: ECONNREFUSED'), 'ATRIUM_ERR_LDAP_UNAVAILABLE', 503],
      [new TemplateError('uid', '(uid={uid})'), 'ATRIUM_ERR_LDAP_TEMPLATE', 500],
      [new ConfigError('a.yaml', [{ path: 'hub.port', line: 3, message: 'must be a number' }]), 'ATRIUM_ERR_CONFIG_INVALID', 500],
    ];
    for (const [err, c, status] of cases) {
      expect(err.code).toBe(c);
      expect(err.statusCode).toBe(status);
      expect(isAtriumError(err)).toBe(true);
      expect(hasCode(err, err.code)).toBe(true);
    }
    expect(new SpawnError('no such image', 'docker said 404')).toMatchObject({ message: 'no such image', detail: 'docker said 404', name: 'SpawnError' });
    // The user sees the catalogue's message for an unavailable directory; the reason is log-only.
    const unavailable = new AuthUnavailableError('directory unavailable', 'ldap://x: ECONNREFUSED');
    expect(unavailable.message).toBe(catalogue.ATRIUM_ERR_AUTH_UNAVAILABLE.message);
    expect(unavailable.detail).toBe('directory unavailable: ldap://x: ECONNREFUSED');
  });

  it('recognises a catalogued error by shape, as from another copy of the module', () => {
    const foreign = Object.assign(new Error('Spawn failed: no node fits'), { code: 'ATRIUM_ERR_SPAWN_FAILED', statusCode: 500 });
    expect(isAtriumError(foreign)).toBe(true);
    expect(hasCode(foreign, 'ATRIUM_ERR_SPAWN_FAILED')).toBe(true);
    expect(isAtriumError(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }))).toBe(false);
    expect(isAtriumError({ code: 'ATRIUM_ERR_SPAWN_FAILED' })).toBe(false);
    expect(hasCode(atriumError('ATRIUM_ERR_DB_BUSY'), 'ATRIUM_ERR_DB_UNAVAILABLE')).toBe(false);
  });
});
