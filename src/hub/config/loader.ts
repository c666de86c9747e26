/**
 * Load atrium.yaml: YAML (with lines) → ${ENV} substitution → removed-key table → JSON Schema
 * with defaults → cross-field checks → deep freeze. Every problem from every stage is collected
 * and thrown together, so an admin fixes a file in one round instead of one error per restart.
 */
import { readFileSync } from 'node:fs';
import { Value } from '@sinclair/typebox/value';
import { AtriumError, hasCode } from '../../shared/errors.js';
import { crossChecks } from './cross-checks.js';
import { RENAMED_KEYS, renamedMessage } from './renamed.js';
import { AtriumConfigSchema, type AtriumConfig } from './schema.js';
import { validateSchema } from './validate.js';
import { formatPath, lineOf, parseYaml, substituteEnv, type RawProblem, type YamlSource } from './yaml-source.js';

export interface ConfigProblem {
  /** Dotted key path, e.g. authenticator.header.userHeader or hooks[0].kind; '' for the file. */
  path: string;
  line: number | null;
  message: string;
}

/** ATRIUM_ERR_CONFIG_INVALID; `message` lists every problem, one a line. */
export class ConfigError extends AtriumError {
  readonly problems: ConfigProblem[];
  readonly sourceName: string;
  constructor(sourceName: string, problems: ConfigProblem[]) {
    super('ATRIUM_ERR_CONFIG_INVALID', problems.map((p) => formatProblem(sourceName, p)).join('\n'));
    this.name = 'ConfigError';
    this.sourceName = sourceName;
    this.problems = problems;
  }
}

/** Sort by code, like every other error (see src/shared/errors.ts). */
export function isConfigError(err: unknown): err is ConfigError {
  return hasCode(err, 'ATRIUM_ERR_CONFIG_INVALID') && Array.isArray((err as ConfigError).problems);
}

/** `atrium.yaml:12: authenticator.header.userHedaer: unknown key (did you mean "userHeader"?)` */
export function formatProblem(sourceName: string, p: ConfigProblem): string {
  const where = p.line === null ? sourceName : `${sourceName}:${p.line}`;
  return p.path ? `${where}: ${p.path}: ${p.message}` : `${where}: ${p.message}`;
}

/**
 * How an unset ${VAR} counts. 'error' (the hub): the file is refused. 'warn' (`atrium config
 * check`): the problem moves to `warnings`, and problems at the same key are dropped, since they
 * only describe the blank that stands in for the missing secret.
 */
export interface ParseOptions {
  unsetEnv?: 'error' | 'warn';
  warnings?: ConfigProblem[];
}

export function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env, opts: ParseOptions = {}): Readonly<AtriumConfig> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ConfigError(path, [{ path: '', line: null, message: `cannot read the file (${code ?? (e as Error).message})` }]);
  }
  return parseConfig(text, path, env, opts);
}

export function parseConfig(text: string, sourceName: string, env: NodeJS.ProcessEnv = process.env, opts: ParseOptions = {}): Readonly<AtriumConfig> {
  const { source, problems: syntax } = parseYaml(text);
  // After a syntax error the tree is partial; schema errors on it would only confuse.
  if (syntax.length) throw toError(sourceName, source, syntax);

  // Keys whose value is a ${NAME:-default} with NAME unset: in `config check` a site file there
  // that does not exist is the example's stand-in, so a warning rather than a problem.
  const defaulted = new Map<string, string>();
  let problems = substituteEnv(source, env, {
    keepUnset: opts.unsetEnv === 'warn',
    onDefault: (segments, name) => defaulted.set(formatPath(segments), name),
  });
  const unset = opts.unsetEnv === 'warn' ? problems.filter((p) => p.unsetEnv) : [];
  if (unset.length) {
    opts.warnings?.push(...toError(sourceName, source, unset).problems);
    problems = problems.filter((p) => !p.unsetEnv);
  }
  const blank = new Set(unset.map((p) => formatPath(p.segments)));
  const keep = (p: RawProblem) => !blank.has(formatPath(p.segments));
  let data: unknown = source.doc.toJS({ maxAliasCount: 100 }) ?? {};
  if (typeof data !== 'object' || Array.isArray(data)) {
    problems.push({ segments: [], line: 1, message: 'the file must be a mapping of sections (hub:, proxy:, authenticator:, spawner:, …)' });
    throw toError(sourceName, source, problems);
  }

  const renamedPaths = new Set<string>();
  for (const r of RENAMED_KEYS) {
    const segments = r.from.split('.');
    if (hasPath(data, segments)) {
      renamedPaths.add(r.from);
      problems.push({ segments, message: renamedMessage(r), atKey: true });
    }
  }
  problems.push(...validateSchema(data, (p) => renamedPaths.has(p)).filter(keep));
  problems.push(...crossChecks(data).filter(keep));
  if (opts.unsetEnv === 'warn') {
    const standIn = problems.filter((p) => defaulted.has(formatPath(p.segments)) && p.message.startsWith('cannot read the file'));
    if (standIn.length) {
      const explained = standIn.map((p) => ({ ...p, message: `${p.message}; it is the default of \${${defaulted.get(formatPath(p.segments))}}, which is not set` }));
      opts.warnings?.push(...toError(sourceName, source, explained).problems);
      problems = problems.filter((p) => !standIn.includes(p));
    }
  }
  if (problems.length) throw toError(sourceName, source, problems);

  // ajv does not fill defaults inside unions (hooks[] entries); TypeBox picks the matching branch.
  data = Value.Default(AtriumConfigSchema, data);
  return deepFreeze(data as AtriumConfig);
}

function hasPath(data: unknown, segments: string[]): boolean {
  let cur = data;
  for (const s of segments) {
    if (!cur || typeof cur !== 'object' || !Object.hasOwn(cur, s)) return false;
    cur = (cur as Record<string, unknown>)[s];
  }
  return true;
}

function toError(sourceName: string, source: YamlSource, raw: RawProblem[]): ConfigError {
  const seen = new Set<string>();
  const problems: ConfigProblem[] = [];
  for (const r of raw) {
    const p = {
      path: formatPath(r.segments),
      line: r.line !== undefined ? r.line : lineOf(source, r.segments, r.atKey ?? true),
      message: r.message,
    };
    const id = `${p.path}\0${p.message}`;
    if (!seen.has(id)) problems.push(p);
    seen.add(id);
  }
  // Stable sort: file order, then problems without a line.
  problems.sort((a, b) => (a.line ?? Infinity) - (b.line ?? Infinity));
  return new ConfigError(sourceName, problems);
}

export function deepFreeze<T>(value: T): Readonly<T> {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
