/**
 * Schema validation with ajv, and the translation of ajv's errors into one readable problem per
 * mistake. Unions need care: ajv reports every failing branch, which for `kind: dokcer` would be
 * one "must be equal to constant" per allowed kind. Literal unions become "must be one of",
 * and unions of objects discriminated by a constant key (kind, type) only report the branch the value chose.
 */
import { createHash } from 'node:crypto';
import type { TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { Ajv, type ErrorObject, type Options, type ValidateFunction } from 'ajv';
import { configFormats } from './formats.js';
import { AtriumConfigSchema } from './schema.js';
import { didYouMean } from './suggest.js';
import { standalone } from './validator-standalone.js';
import type { RawProblem, Segment } from './yaml-source.js';

/**
 * strict off: TypeBox emits unions of literals and defaults inside anyOf, which strict mode
 * rejects; verbose gives parentSchema and data for the messages below. validateSchema off:
 * checking our own schema against the JSON Schema meta-schema cost ~60 ms of every hub start
 * (decision 0017); test/hub/config/schema-meta.test.ts does that check once, in CI. The build-time
 * validator (validator-build.ts) is generated with these same options.
 */
export const AJV_OPTIONS: Options = { allErrors: true, useDefaults: true, strict: false, verbose: true, validateSchema: false, formats: configFormats };

let hash: string | undefined;
/** Fingerprint of the schema, so a generated validator is used only for the schema it was made from. */
export function schemaHash(): string {
  hash ??= createHash('sha256').update(JSON.stringify(AtriumConfigSchema)).digest('hex');
  return hash;
}

// Held weakly: the compiled validator (generated code, ajv's caches) is several MB of heap that
// a running hub needs again only on a config reload, where compiling it anew takes a fraction of
// a second; tests and `config check` that validate many times in a row still reuse it (decision 0022).
let compiled: WeakRef<ValidateFunction> | undefined;

/** How the last validation got its validator: generated at build time, or compiled at run time. */
export let validatorSource: 'build' | 'runtime' | undefined;

function validator(): ValidateFunction {
  // The build generated the validator (decision 0025): no code generation at start. A build from
  // another schema (a tsc-only rebuild after a schema change) is ignored, never trusted.
  if (standalone && standalone.schemaHash === schemaHash()) {
    validatorSource = 'build';
    return standalone.validate;
  }
  validatorSource = 'runtime';
  const cached = compiled?.deref();
  if (cached) return cached;
  const fn = new Ajv(AJV_OPTIONS).compile(AtriumConfigSchema);
  compiled = new WeakRef(fn);
  return fn;
}

type Schema = Record<string, unknown>;

const quoteAll = (values: unknown[]) => values.map((v) => JSON.stringify(v)).join(', ');

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'number') return Number.isInteger(v) ? 'an integer' : 'a number';
  return `a ${typeof v}`;
}

/** ajv instancePath → segments, with array indexes as numbers (for line lookup and "[0]" paths). */
function toSegments(pointer: string, data: unknown): Segment[] {
  const segments: Segment[] = [];
  let cur: unknown = data;
  for (const raw of pointer.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    const asIndex = Array.isArray(cur) ? Number(seg) : NaN;
    segments.push(Number.isInteger(asIndex) ? asIndex : seg);
    cur = cur !== null && typeof cur === 'object' ? (cur as Record<string, unknown>)[seg] : undefined;
  }
  return segments;
}

function literalValues(anyOf: Schema[]): unknown[] | null {
  return anyOf.every((s) => 'const' in s) ? anyOf.map((s) => s.const) : null;
}

/** The property (kind, type) whose const value tells a union's object branches apart, if any. */
export function discriminator(anyOf: Schema[]): { key: string; values: unknown[] } | null {
  const first = (anyOf[0]?.properties ?? {}) as Record<string, Schema>;
  for (const key of Object.keys(first)) {
    const values = anyOf.map((s) => ((s.properties as Record<string, Schema> | undefined)?.[key] as Schema | undefined)?.const);
    if (values.every((v) => v !== undefined)) return { key, values };
  }
  return null;
}

function enumProblem(segments: Segment[], allowed: unknown[], value: unknown): RawProblem {
  const hint = typeof value === 'string' ? didYouMean(value, allowed.map(String)) : undefined;
  const got = typeof value === 'string' || typeof value === 'number' ? ` (got ${JSON.stringify(value)})` : '';
  return {
    segments,
    message: `must be one of ${quoteAll(allowed)}${got}${hint ? ` (did you mean "${hint}"?)` : ''}`,
  };
}

/**
 * ajv's useDefaults skips everything under anyOf, yet TypeBox makes a defaulted key required,
 * so `{ type: volume, source, target }` would fail for lack of `readOnly`. Before validation,
 * fill the defaults of the branch a discriminated union's value chose (TypeBox walks it).
 */
function fillUnionDefaults(schema: Schema, data: unknown): unknown {
  if (data === null || typeof data !== 'object') return data;
  if (Array.isArray(data)) {
    const items = schema.items as Schema | undefined;
    return items ? data.map((d) => fillUnionDefaults(items, d)) : data;
  }
  const record = data as Record<string, unknown>;
  if (Array.isArray(schema.anyOf)) {
    const disc = discriminator(schema.anyOf as Schema[]);
    const chosen = disc ? disc.values.indexOf(record[disc.key]) : -1;
    return chosen === -1 ? data : Value.Default((schema.anyOf as unknown as TSchema[])[chosen]!, record);
  }
  const props = schema.properties as Record<string, Schema> | undefined;
  const pattern = schema.patternProperties ? Object.values(schema.patternProperties as Record<string, Schema>)[0] : undefined;
  for (const [key, value] of Object.entries(record)) {
    const child = props?.[key] ?? pattern;
    if (child) record[key] = fillUnionDefaults(child, value);
  }
  return data;
}

/** Validate in place (defaults are filled into `data`) and return the problems. */
export function validateSchema(data: unknown, skipUnknown: (path: string) => boolean): RawProblem[] {
  fillUnionDefaults(AtriumConfigSchema as unknown as Schema, data);
  const validate = validator();
  if (validate(data)) return [];
  const errors = validate.errors ?? [];
  // schemaPath is the same for every item of an array, so a drop is scoped to its instance too.
  const drops: { instance: string; schema: string }[] = [];
  const drop = (e: ErrorObject, schema: string) => drops.push({ instance: e.instancePath, schema });
  const dropped = (e: ErrorObject) =>
    drops.some(
      (d) => (e.instancePath === d.instance || e.instancePath.startsWith(`${d.instance}/`)) && e.schemaPath.startsWith(d.schema),
    );
  const problems: RawProblem[] = [];

  // First pass: unions decide which of their branch errors are worth showing.
  for (const e of errors) {
    if (e.keyword !== 'anyOf') continue;
    const anyOf = (e.parentSchema as Schema).anyOf as Schema[];
    const segments = toSegments(e.instancePath, data);
    const literals = literalValues(anyOf);
    const disc = discriminator(anyOf);
    if (literals) {
      problems.push(enumProblem(segments, literals, e.data));
      drop(e, `${e.schemaPath}/`);
    } else if (disc && e.data !== null && typeof e.data === 'object' && !Array.isArray(e.data)) {
      const value = (e.data as Record<string, unknown>)[disc.key];
      const chosen = disc.values.indexOf(value);
      if (chosen === -1) {
        problems.push(enumProblem([...segments, disc.key], disc.values, value));
        drop(e, `${e.schemaPath}/`);
      } else {
        anyOf.forEach((_, i) => i !== chosen && drop(e, `${e.schemaPath}/${i}/`));
      }
    } else if (!errors.some((o) => o !== e && o.instancePath.startsWith(e.instancePath) && o.schemaPath.startsWith(`${e.schemaPath}/`))) {
      problems.push({ segments, message: `does not match any of the allowed forms (got ${typeName(e.data)})` });
    }
  }

  for (const e of errors) {
    if (e.keyword === 'anyOf' || dropped(e)) continue;
    const p = translate(e, toSegments(e.instancePath, data));
    if (p && !(e.keyword === 'additionalProperties' && skipUnknown(p.segments.join('.')))) problems.push(p);
  }
  return problems;
}

function translate(e: ErrorObject, segments: Segment[]): RawProblem | null {
  const schema = e.parentSchema as Schema;
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = String(params.additionalProperty);
      const allowed = Object.keys((schema.properties as object | undefined) ?? {});
      const hint = didYouMean(key, allowed);
      const message = hint
        ? `unknown key (did you mean "${hint}"?)`
        : `unknown key (allowed: ${allowed.join(', ') || 'none'})`;
      return { segments: [...segments, key], message, atKey: true };
    }
    case 'required':
      return { segments: [...segments, String(params.missingProperty)], message: 'required key is missing' };
    case 'type':
      return { segments, message: `must be ${articled(String(params.type))} (got ${typeName(e.data)})` };
    case 'const':
      return { segments, message: `must be ${JSON.stringify(params.allowedValue)} (got ${JSON.stringify(e.data) ?? 'nothing'})` };
    case 'enum':
      return enumProblem(segments, params.allowedValues as unknown[], e.data);
    case 'format':
      return params.format === 'uri'
        ? { segments, message: 'must be an absolute URL such as https://notebooks.example.edu/' }
        : { segments, message: `must be a valid ${String(params.format)}` };
    case 'pattern':
      return { segments, message: `must match the regular expression ${String(params.pattern)}` };
    case 'minLength':
      return { segments, message: params.limit === 1 ? 'must not be empty' : `must be at least ${String(params.limit)} characters` };
    default:
      return { segments, message: e.message ?? `fails the ${e.keyword} check` };
  }
}

function articled(type: string): string {
  const names: Record<string, string> = { object: 'a mapping', array: 'a list', integer: 'an integer' };
  return names[type] ?? `a ${type}`;
}
