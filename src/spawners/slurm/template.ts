/**
 * The batch script: batchspawner's variable names, one filler. `{name}` and `{{name}}` are
 * replaced; `{% if name %}…{% endif %}` keeps its body only when the variable is non-empty, so
 * ported batchspawner (Jinja) templates keep working. `${VAR}` and unknown `{words}` are shell
 * text and stay as they are. An `#SBATCH` line that uses an empty variable is dropped, so one
 * template serves jobs with and without an account, a reservation or GPUs.
 */

export const DEFAULT_BATCH_SCRIPT = `#!/bin/bash
#SBATCH --job-name={jobname}
#SBATCH --output={homedir}/.atrium-slurm-%j.log
#SBATCH --chdir={homedir}
#SBATCH --partition={partition}
#SBATCH --account={account}
#SBATCH --qos={qos}
#SBATCH --reservation={reservation}
#SBATCH --time={runtime}
#SBATCH --mem={memory}
#SBATCH --cpus-per-task={nprocs}
#SBATCH --gres={gres}
#SBATCH {options}
{prologue}
{srun} {cmd}
{epilogue}
`;

/** Every variable a template may use; the spawner always fills all of them ('' when unset). */
export const TEMPLATE_VARIABLES = [
  'partition', 'account', 'qos', 'reservation', 'runtime', 'memory', 'nprocs', 'ngpus', 'gres', 'options',
  'prologue', 'epilogue', 'srun', 'keepvars', 'homedir', 'username', 'servername', 'jobname', 'cmd',
] as const;
export type TemplateVariable = (typeof TEMPLATE_VARIABLES)[number];
export type TemplateVars = Record<TemplateVariable, string>;

const KNOWN = new Set<string>(TEMPLATE_VARIABLES);
const IF_BLOCK = /\{%-?\s*if\s+([a-z_]+)\s*-?%\}([\s\S]*?)\{%-?\s*endif\s*-?%\}/g;
// `{{ name }}` or `{name}`, but not `${name}` (shell parameter expansion).
const VARIABLE = /(?<!\$)\{\{\s*([a-z_]+)\s*\}\}|(?<![$])\{([a-z_]+)\}/g;

export function fillTemplate(template: string, vars: TemplateVars): string {
  const value = (name: string): string | undefined => (KNOWN.has(name) ? vars[name as TemplateVariable] ?? '' : undefined);
  const withBlocks = template.replace(IF_BLOCK, (whole, name: string, body: string) => {
    const v = value(name);
    if (v === undefined) return whole;
    return v === '' ? '' : body;
  });
  const out: string[] = [];
  for (const line of withBlocks.split('\n')) {
    let usesEmpty = false;
    const filled = line.replace(VARIABLE, (whole, a: string | undefined, b: string | undefined) => {
      const v = value((a ?? b)!);
      if (v === undefined) return whole;
      if (v.trim() === '') usesEmpty = true;
      return v;
    });
    if (usesEmpty && /^\s*#SBATCH\b/.test(line)) continue;
    out.push(filled);
  }
  return out.join('\n');
}

/** One word for a POSIX shell, quoted only when it has to be. */
export function shellQuote(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** `{name}`-style fill of admin strings such as the job name and home dir (not the script). */
export function fillNames(text: string, user: string, server: string): string {
  return text
    .replace(/\{username\}/g, user)
    .replace(/\{servername\}/g, server)
    .replace(/\{-servername\}/g, server ? `-${server}` : '');
}

/** Job names and #SBATCH values are single shell-ish words: keep what Slurm and bash both take. */
export function safeWord(text: string): string {
  return text.replace(/[^A-Za-z0-9_.@+-]/g, '_');
}
