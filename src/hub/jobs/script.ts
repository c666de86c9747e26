/**
 * From a submit request to a batch script. Two sources: an admin template with form fields (the
 * values validated against the field's type and limits, shell-quoted, and never able to replace
 * an admin variable such as {username}), or a script the user typed or uploaded (allowed by
 * `jobs.customScripts`; it runs as the user, so it can do nothing they could not do with sbatch
 * on a login node). Either way the script must start with a shebang, as sbatch demands.
 */
import { atriumError } from '../errors.js';
import { parseArraySpec, scriptArraySpec, type ArraySpec } from './array.js';
import { ADMIN_VARIABLES, type JobFieldConfig, type JobsConfig, type JobTemplateConfig } from './config.js';

export interface JobRequest {
  /** Template name, or null for a custom script. */
  template: string | null;
  params: Record<string, string | number>;
  script: string;
  /** Job name shown in the lists (sanitised; also passed as --job-name). */
  name: string;
  /** A job array: the checked spec (from an #SBATCH --array line or the request's array field). */
  array: ArraySpec | null;
}

/**
 * The array of a script: its #SBATCH --array line, or `given` (the request's array field) written
 * into the script as that line — sbatch then reads one source, and the history shows it.
 */
export function withArray(cfg: JobsConfig, script: string, given: unknown): { script: string; array: ArraySpec | null } {
  const inScript = scriptArraySpec(script);
  if (given === undefined || given === null || given === '') {
    return { script, array: inScript === null ? null : parseArraySpec(inScript, cfg.maxArrayTasks) };
  }
  if (typeof given !== 'string') throw atriumError('ATRIUM_ERR_JOB_ARRAY_SPEC', '"array" must be a string such as "0-9%2"');
  if (inScript !== null) throw atriumError('ATRIUM_ERR_JOB_ARRAY_SPEC', 'The script has its own #SBATCH --array line: give the array there or in the array field, not both');
  const array = parseArraySpec(given, cfg.maxArrayTasks);
  const nl = script.indexOf('\n');
  const text = nl < 0 ? `${script}\n#SBATCH --array=${array.spec}\n` : `${script.slice(0, nl + 1)}#SBATCH --array=${array.spec}\n${script.slice(nl + 1)}`;
  return { script: text, array };
}

const NAME = /^[A-Za-z0-9_.+-]{1,64}$/;

/** One word for a POSIX shell: single-quoted unless plainly safe. */
export function shellQuote(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

function bad(message: string): never {
  throw atriumError('ATRIUM_ERR_JOB_BAD_REQUEST', message);
}

/** One field's value, validated; numbers stay numbers, text and choices stay strings. */
export function fieldValue(f: JobFieldConfig, raw: unknown): string | number {
  const given = raw === undefined || raw === null || raw === '' ? f.default : raw;
  if (given === undefined) bad(`${f.name}: a value is required`);
  if (f.type === 'number') {
    const n = typeof given === 'number' ? given : typeof given === 'string' && /^-?\d{1,12}$/.test(given.trim()) ? Number(given.trim()) : NaN;
    if (!Number.isSafeInteger(n)) bad(`${f.name}: must be a whole number`);
    if (f.min !== undefined && n < f.min) bad(`${f.name}: must be at least ${f.min}`);
    if (f.max !== undefined && n > f.max) bad(`${f.name}: must be at most ${f.max}`);
    return n;
  }
  const s = String(given);
  if (f.type === 'select') {
    if (!f.choices.includes(s)) bad(`${f.name}: "${s.slice(0, 40)}" is not one of ${f.choices.join(', ')}`);
    return s;
  }
  if (s.length > 200 || !new RegExp(f.pattern).test(s) || !new RegExp(`^(?:${f.pattern})$`).test(s)) bad(`${f.name}: "${s.slice(0, 40)}" is not accepted (allowed: ${f.pattern})`);
  return s;
}

/** `{name}` filled from `vars`; unknown `{words}` and `${shell}` stay as they are. */
export function fillJobTemplate(script: string, vars: Record<string, string>): string {
  return script.replace(/(?<!\$)\{([a-z][a-z0-9_]*)\}/g, (whole, name: string) => (Object.hasOwn(vars, name) ? vars[name]! : whole));
}

export function fromTemplate(cfg: JobsConfig, tpl: JobTemplateConfig, input: Record<string, unknown>, admin: { username: string; homedir: string }, arrayField?: unknown): JobRequest {
  const extra = Object.keys(input).filter((k) => !tpl.fields.some((f) => f.name === k));
  if (extra.length) bad(`unknown field(s) for template ${tpl.name}: ${extra.slice(0, 5).join(', ').slice(0, 200)}`);
  const params: Record<string, string | number> = {};
  for (const f of tpl.fields) params[f.name] = fieldValue(f, input[f.name]);
  const vars: Record<string, string> = {};
  for (const [k, v] of Object.entries(params)) vars[k] = shellQuote(String(v));
  // Admin variables last: a field can never replace them (the config check refuses such names too).
  for (const k of ADMIN_VARIABLES) vars[k] = shellQuote(admin[k]);
  checkScript(cfg, fillJobTemplate(tpl.script, vars));
  const { script, array } = withArray(cfg, fillJobTemplate(tpl.script, vars), arrayField);
  return { template: tpl.name, params, script, name: tpl.name, array };
}

export function fromScript(cfg: JobsConfig, script: unknown, name: unknown, arrayField?: unknown): JobRequest {
  if (!cfg.customScripts) throw atriumError('ATRIUM_ERR_JOB_BAD_REQUEST', 'This hub accepts jobs from its templates only');
  if (typeof script !== 'string') bad('"script" must be a string');
  const text = script.replace(/\r\n/g, '\n');
  checkScript(cfg, text);
  const n = name === undefined || name === null || name === '' ? 'script' : String(name);
  if (!NAME.test(n)) bad('"name" may use letters, digits and _ . + - (at most 64)');
  const withSpec = withArray(cfg, text, arrayField);
  return { template: null, params: {}, script: withSpec.script, name: n, array: withSpec.array };
}

function checkScript(cfg: JobsConfig, script: string): void {
  if (Buffer.byteLength(script) > cfg.maxScriptBytes) throw atriumError('ATRIUM_ERR_JOB_BAD_REQUEST', `The script is larger than ${cfg.maxScriptBytes} bytes`);
  if (!script.startsWith('#!')) bad('The script must start with a #! line (e.g. #!/bin/bash), as sbatch requires');
  if (script.includes('\0')) bad('The script contains a NUL byte');
}
