/**
 * The `atrium` command line as a user types it (node bin/atrium.js …, the built dist/): --help on
 * every subcommand, bad option values refused before anything is written, the embedded default
 * when there is no atrium.yaml, and the example configs checked without their secrets.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configFileFor, parseExpiresIn } from '../src/cli-args.js';
import { ensureBuilt } from './hub/harness.js';

const ROOT = new URL('../', import.meta.url).pathname;
const BIN = join(ROOT, 'bin/atrium.js');
const run = promisify(execFile);
const dirs: string[] = [];

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'atrium-cli-'));
  dirs.push(d);
  return d;
}

/** Run the CLI in `cwd` with no ATRIUM_CONFIG and no secrets of the examples in the environment. */
async function atrium(args: string[], cwd = tempDir(), env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string; err: string }> {
  const base = { PATH: process.env.PATH, HOME: process.env.HOME };
  try {
    const r = await run(process.execPath, [BIN, ...args], { cwd, env: { ...base, ...env }, timeout: 20_000 });
    return { code: 0, out: r.stdout, err: r.stderr };
  } catch (e) {
    const x = e as { code?: number; stdout: string; stderr: string };
    return { code: typeof x.code === 'number' ? x.code : -1, out: x.stdout, err: x.stderr };
  }
}

beforeAll(() => ensureBuilt());
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('atrium --help', () => {
  it.each([['hub'], ['token'], ['config', 'check'], ['config'], ['sshfs-driver']])('%s %s --help prints its usage and exits 0', async (...cmd) => {
    for (const flag of ['--help', '-h']) {
      const r = await atrium([...cmd.filter(Boolean), flag]);
      expect(r.code, r.err).toBe(0);
      expect(r.out).toMatch(/^(Usage: )?atrium /);
      expect(r.err).toBe('');
    }
  });

  it('config check --help is not read as a file name', async () => {
    const r = await atrium(['config', 'check', '--help']);
    expect(r.out).toContain('--strict');
    expect(r.out).not.toContain('cannot read the file');
  });
});

describe('bad options are refused (exit 2, nothing written)', () => {
  it.each([
    [['token', '--expires-in', 'abc', 'bob'], '--expires-in: "abc" is not a duration'],
    [['token', '--expires-in=-5', 'bob'], '--expires-in: "-5" is not a duration'],
    [['token', '--expires-in', '0', 'bob'], 'less than one second'],
    [['token', '--scopes', 'read:users,rule:world', 'bob'], 'unknown scope "rule:world"'],
    [['token', '--scopes', ',', 'bob'], 'list at least one scope'],
    [['token'], 'name the USER'],
    [['token', 'a', 'b'], 'one user at a time'],
    [['token', 'bo/b'], 'invalid user name "bo/b"'],
    [['token', '--expires-in'], "Option '--expires-in <value>' argument missing"],
    [['hub', '--bogus'], "Unknown option '--bogus'"],
    [['hub', '--config', 'nope.yaml'], 'config file not found: nope.yaml'],
    [['config', 'check', 'a.yaml', 'b.yaml'], 'one file at a time'],
    [['config', 'lint'], 'unknown subcommand "lint"'],
  ])('%j', async (args, message) => {
    const cwd = tempDir();
    const r = await atrium(args as string[], cwd);
    expect(r.code).toBe(2);
    expect(r.err).toContain(message);
    expect(r.err).toContain('--help');
    expect(r.out).toBe('');
    expect(readdirSync(cwd)).toEqual([]);
  });

  it('parseExpiresIn reads seconds and units', () => {
    expect(parseExpiresIn('3600')).toBe(3600);
    expect(parseExpiresIn('90m')).toBe(5400);
    expect(parseExpiresIn('7d')).toBe(604_800);
    expect(() => parseExpiresIn('1e9')).toThrow(/not a duration/);
    expect(() => parseExpiresIn('200000d')).toThrow(/100 years/);
  });
});

describe('no atrium.yaml: the embedded default', () => {
  it('atrium token NAME works in an empty folder and the token expires when asked', async () => {
    const cwd = tempDir();
    const r = await atrium(['token', 'Alice', '--expires-in', '7d', '--note', 'ci'], cwd);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toContain('running on the embedded default');
    expect(r.out.trim()).toMatch(/^[0-9a-f]{64}$/);
    // The embedded default's stateDir, created private as the hub would.
    const db = new Database(join(cwd, '.atrium-state', 'atrium.sqlite'), { readonly: true });
    try {
      const row = db.prepare('SELECT u.name, t.expires_at, t.note FROM api_tokens t JOIN users u ON u.id = t.user_id').get() as { name: string; expires_at: string; note: string };
      expect(row.name).toBe('alice');
      expect(row.note).toBe('ci');
      const days = (Date.parse(row.expires_at) - Date.now()) / 86_400_000;
      expect(days).toBeGreaterThan(6.99);
      expect(days).toBeLessThan(7.01);
    } finally {
      db.close();
    }
  });

  it('which file: explicit, $ATRIUM_CONFIG, ./atrium.yaml, else none', () => {
    const cwd = tempDir();
    expect(configFileFor(undefined, {}, cwd)).toBeNull();
    expect(configFileFor(undefined, { ATRIUM_CONFIG: '' }, cwd)).toBeNull();
    expect(() => configFileFor(undefined, { ATRIUM_CONFIG: 'x.yaml' }, cwd)).toThrow('config file not found: x.yaml (from $ATRIUM_CONFIG)');
    expect(() => configFileFor('y.yaml', {}, cwd)).toThrow('config file not found: y.yaml');
    writeFileSync(join(cwd, 'atrium.yaml'), 'logLevel: info\n');
    expect(configFileFor(undefined, {}, cwd)).toBe('atrium.yaml');
  });

  it('a present atrium.yaml is used, not the default', async () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, 'atrium.yaml'), `hub:\n  stateDir: ${join(cwd, 'st')}\n`);
    const r = await atrium(['token', 'bob'], cwd);
    expect(r.code, r.err).toBe(0);
    expect(r.err).not.toContain('embedded default');
    expect(existsSync(join(cwd, 'st', 'atrium.sqlite'))).toBe(true);
    expect(existsSync(join(cwd, '.atrium-state'))).toBe(false);
  });
});

describe('atrium config check on the examples, without their secrets', () => {
  const examples = readdirSync(join(ROOT, 'config')).filter((f) => f.endsWith('.yaml'));

  it.each(examples)('%s: each unset ${VAR} is a warning naming it; --strict makes it an error', async (name) => {
    // A site file the example names (the directory's CA) is not a secret: give it one, as
    // test/hub/config/examples.test.ts does, so only the secrets are missing.
    const cwd = tempDir();
    const ca = join(cwd, 'ca.pem');
    writeFileSync(ca, '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n');
    const text = readFileSync(join(ROOT, 'config', name), 'utf8').replace(/^(\s*caFile:).*$/gm, `$1 ${ca}`);
    writeFileSync(join(cwd, name), text);
    const vars = [...new Set([...text.replace(/^\s*#.*$/gm, '').matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)].map((m) => m[1]!))];
    const r = await atrium(['config', 'check', name], cwd);
    expect(r.code, r.err).toBe(0);
    for (const v of vars) expect(r.out).toMatch(new RegExp(`${name}:\\d+: \\S+: environment variable ${v} is not set.*warning`));
    expect(r.out).toContain(vars.length ? `${name}: ok, ${vars.length} warning` : `${name}: ok\n`);
    const strict = await atrium(['config', 'check', '--strict', name], cwd);
    expect(strict.code).toBe(vars.length ? 2 : 0);
    for (const v of vars) expect(strict.err).toContain(`environment variable ${v} is not set`);
  });

  it('a real mistake is still an error next to the warnings', async () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, 'a.yaml'), 'proxy:\n  external: true\n  authToken: ${NOT_SET_HERE}\nhub:\n  prot: 1\n');
    const r = await atrium(['config', 'check', 'a.yaml'], cwd);
    expect(r.code).toBe(2);
    expect(r.err).toContain('a.yaml:3: proxy.authToken: environment variable NOT_SET_HERE is not set');
    expect(r.err).toContain('a.yaml:5: hub.prot: unknown key (did you mean "port"?)');
    expect(r.err).toContain('a.yaml: 1 problem');
    // The blank secret is not reported a second time as "an external proxy needs authToken".
    expect(r.err).not.toContain('needs proxy.authToken');
  });
});
