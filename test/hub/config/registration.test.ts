/**
 * Adding a kind touches one list: a test-only spawner, authenticator and hook, added to the
 * kinds lists only (vi.mock of src/<room>/kinds.ts), are validated by the config schema and
 * their own checks, documented by the docs generator and created by the hub's registry. And
 * src/hub names no kind: it knows kinds only through the lists.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { describe, expect, it, vi } from 'vitest';

const probe = vi.hoisted(() => {
  const { Type } = require('@sinclair/typebox') as typeof import('@sinclair/typebox');
  const created: string[] = [];
  const options = Type.Object(
    { greeting: Type.String({ default: 'hi', description: 'Test-only option.' }) },
    { additionalProperties: false, default: {}, description: 'Test-only kind.' },
  );
  const validateOptions = (o: unknown) =>
    (o as { greeting?: unknown })?.greeting === 'forbidden' ? [{ segments: ['greeting'], message: 'test kind refuses "forbidden"' }] : [];
  return { created, options, validateOptions };
});

vi.mock('../../../src/spawners/kinds.js', async (orig) => {
  const real = (await orig()) as typeof import('../../../src/spawners/kinds.js');
  const probeSpawner = {
    name: 'probe-spawner',
    optionsSchema: probe.options,
    serversOnHubHost: false,
    validateOptions: probe.validateOptions,
    load: async () => ({ kind: 'probe-spawner', create: (a: { options: unknown }) => (probe.created.push(`spawner:${JSON.stringify(a.options)}`), {}) }),
  };
  return { spawnerKinds: { ...real.spawnerKinds, kinds: [...real.spawnerKinds.kinds, probeSpawner] } };
});
vi.mock('../../../src/authenticators/kinds.js', async (orig) => {
  const real = (await orig()) as typeof import('../../../src/authenticators/kinds.js');
  const probeAuth = {
    name: 'probe-auth',
    optionsSchema: probe.options,
    load: async () => ({ kind: 'probe-auth', create: (a: { options: unknown }) => (probe.created.push(`auth:${JSON.stringify(a.options)}`), { mode: 'form', authenticate: async () => null }) }),
  };
  return { authenticatorKinds: { ...real.authenticatorKinds, kinds: [...real.authenticatorKinds.kinds, probeAuth] } };
});
vi.mock('../../../src/hooks/kinds.js', async (orig) => {
  const real = (await orig()) as typeof import('../../../src/hooks/kinds.js');
  const probeHook = {
    name: 'probe-hook',
    optionsKey: 'probeHook',
    description: 'Test-only hook.',
    optionsSchema: probe.options,
    validateOptions: probe.validateOptions,
    load: async () => ({ kind: 'probe-hook', create: (a: { options: unknown }) => (probe.created.push(`hook:${JSON.stringify(a.options)}`), { name: 'probe' }) }),
  };
  return { hookKinds: { kinds: [...real.hookKinds.kinds, probeHook] } };
});

const { parseConfig, ConfigError } = await import('../../../src/hub/config/loader.js');
const { renderConfigDocs } = await import('../../../src/hub/config/docs.js');
const { loadAuthenticator, loadHooks, loadSpawnerKind } = await import('../../../src/hub/registry.js');
const { spawnerKinds } = await import('../../../src/spawners/kinds.js');

const PROBES = 'authenticator:\n  kind: probe-auth\n  probe-auth: { greeting: hello }\nspawner:\n  kind: probe-spawner\nhooks:\n  - kind: probe-hook\n    probeHook: { greeting: hey }\n';

describe('a kind added to its list only', () => {
  it('is accepted by the schema, with its block and defaults', () => {
    const c = parseConfig(PROBES, 'atrium.yaml', {}) as unknown as Record<string, Record<string, unknown>>;
    expect(c.authenticator!['probe-auth']).toEqual({ greeting: 'hello' });
    expect(c.spawner!['probe-spawner']).toEqual({ greeting: 'hi' });
    expect(c.hooks).toEqual([{ kind: 'probe-hook', timeoutSeconds: 30, probeHook: { greeting: 'hey' } }]);
  });

  it('gets its unknown keys and its own option checks reported with path and line', () => {
    const bad = 'spawner:\n  kind: probe-spawner\n  probe-spawner:\n    greeting: forbidden\n    gretting: x\nhooks:\n  - kind: probe-hook\n    probeHook: { greeting: forbidden }\n';
    let err: unknown;
    try {
      parseConfig(bad, 'atrium.yaml', {});
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message.split('\n')).toEqual([
      'atrium.yaml:4: spawner.probe-spawner.greeting: test kind refuses "forbidden"',
      'atrium.yaml:5: spawner.probe-spawner.gretting: unknown key (did you mean "greeting"?)',
      'atrium.yaml:8: hooks[0].probeHook.greeting: test kind refuses "forbidden"',
    ]);
  });

  it('is offered by kind: and listed by the docs generator', () => {
    expect(() => parseConfig('spawner:\n  kind: probe-spawnr\n', 'atrium.yaml', {})).toThrow(/did you mean "probe-spawner"/);
    const docs = renderConfigDocs();
    expect(docs).toContain('| `kind` | one of `"dummy"`, `"header"`, `"ldap"`, `"probe-auth"` | `"dummy"` |');
    // The real kinds come first (whatever they are), the probe last.
    const names = spawnerKinds.kinds.map((k) => `\`"${k.name}"\``).join(', ');
    expect(names.endsWith('`"probe-spawner"`')).toBe(true);
    expect(docs).toContain(`| \`kind\` | one of ${names} | \`"local"\` |`);
    expect(docs).toContain('### `spawner.probe-spawner`');
    expect(docs).toContain('### `hooks[]` (kind: probe-hook)');
  });

  it('is created by the registry with its own block', async () => {
    const c = parseConfig(PROBES, 'atrium.yaml', {});
    const log = pino({ level: 'silent' });
    await loadAuthenticator(c, log);
    const { kind, options } = await loadSpawnerKind(c);
    kind.create({ options, user: { name: 'a', admin: false, groups: [] }, serverName: '', log });
    await loadHooks(c, log);
    expect(probe.created).toEqual(['auth:{"greeting":"hello"}', 'spawner:{"greeting":"hi"}', 'hook:{"greeting":"hey"}']);
  });
});

describe('src/hub names no kind', () => {
  const hubDir = fileURLToPath(new URL('../../../src/hub/', import.meta.url));
  const files = (d: string): string[] =>
    readdirSync(d).flatMap((f) => (statSync(join(d, f)).isDirectory() ? files(join(d, f)) : f.endsWith('.ts') ? [join(d, f)] : []));
  const KINDS = ['local', 'swarm', 'slurm', 'ssh', 'ldap', 'ldap-account', 'header', 'dummy'];


  it('no kind name is compared, switched on or looked up as a literal', () => {
    const offenders: string[] = [];
    for (const file of files(hubDir)) {
      readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
        // Comments and user-facing prose may mention kinds; code may not use them as values.
        const code = line.replace(/\/\/.*$/, '').replace(/^\s*\/?\*.*$/, '');
        for (const k of KINDS) {
          if (new RegExp(`(?:'${k}'|"${k}"|\\.${k.replace('-', '_')}\\b(?!\\s*\\()|\\[['"]${k}['"]\\])`).test(code) && !/^\s*(description|note|message):/.test(code.trim())) {
            offenders.push(`${file.slice(hubDir.length)}:${i + 1}: ${line.trim()}`);
          }
        }
      });
    }
    expect(offenders).toEqual([]);
  });
});
