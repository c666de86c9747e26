// The config validator generated at build time (decision 0025) must judge every config exactly as
// the one ajv compiles at start: same verdict, same errors (messages are built from them), same
// defaults filled in. The generated module is written where the bundle step would write it
// relative to node_modules, imported, and run side by side with the run-time one.
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { AtriumConfigSchema } from '../../../src/hub/config/schema.js';
import { AJV_OPTIONS, schemaHash, validateSchema, validatorSource } from '../../../src/hub/config/validate.js';
import { standaloneValidatorSource } from '../../../src/hub/config/validator-build.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const work = join(ROOT, '.test-results', `validator-${process.pid}`);
let built: { schemaHash: string; validate: ValidateFunction };
let runtime: ValidateFunction;

beforeAll(async () => {
  mkdirSync(work, { recursive: true });
  const file = join(work, 'validator-standalone.mjs');
  writeFileSync(file, standaloneValidatorSource(pathToFileURL(join(ROOT, 'src/hub/config/formats.ts')).href));
  built = ((await import(pathToFileURL(file).href)) as { standalone: typeof built }).standalone;
  runtime = new Ajv(AJV_OPTIONS).compile(AtriumConfigSchema);
}, 60_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

const examples = readdirSync(join(ROOT, 'config')).filter((f) => f.endsWith('.yaml'));
const exampleData = (name: string) => parse(readFileSync(join(ROOT, 'config', name), 'utf8')) ?? {};

/** Both validators on their own copy of the data: verdict, errors and the filled-in defaults. */
function both(data: unknown) {
  const a = structuredClone(data);
  const b = structuredClone(data);
  const okBuilt = built.validate(a);
  const okRuntime = runtime(b);
  const strip = (errs: ValidateFunction['errors']) => (errs ?? []).map((e) => ({ ...e, schema: undefined, parentSchema: JSON.stringify(e.parentSchema) }));
  return { okBuilt, okRuntime, errBuilt: strip(built.validate.errors), errRuntime: strip(runtime.errors), a, b };
}

const broken: [string, unknown][] = [
  ['unknown top-level key', { hubb: {} }],
  ['wrong type', { hub: { port: 'eighty' } }],
  ['unknown spawner kind', { spawner: { kind: 'dokcer' } }],
  ['bad publicUrl (format uri)', { hub: { publicUrl: 'not a url' } }],
  ['bad log level', { logLevel: 'loud' }],
  ['list where a mapping belongs', { authenticator: [] }],
  ['secret too short (minLength)', { services: [{ name: 's', apiToken: 'short' }] }],
  ['several mistakes at once', { hub: { port: -1, ip: 3 }, proxy: { apiUrl: 7 }, culler: { enabled: 'yes' } }],
];

describe('config validator generated at build time', () => {
  it('is made for this schema (the hub ignores one made for another)', () => {
    expect(built.schemaHash).toBe(schemaHash());
  });

  it.each(examples)('agrees with the run-time validator on config/%s, defaults included', (name) => {
    const r = both(exampleData(name));
    expect(r.okBuilt).toBe(r.okRuntime);
    expect(r.errBuilt).toEqual(r.errRuntime);
    expect(r.a).toEqual(r.b);
  });

  it.each(broken)('agrees on a broken config: %s', (_, data) => {
    const r = both(data);
    expect(r.okRuntime).toBe(false);
    expect(r.okBuilt).toBe(false);
    expect(r.errBuilt).toEqual(r.errRuntime);
  });

  it('tests run on the run-time validator (tsc placeholder), so a stale generated file never decides here', () => {
    expect(validateSchema({}, () => false)).toEqual([]);
    expect(validatorSource).toBe('runtime');
  });
});
