/**
 * The `jobs` config block: the HPC portal's batch jobs (issue 14). Off by default. Jobs go to the
 * same cluster, as the same identity, through the same commands as the Slurm spawner's jobs, so
 * the block holds only what is particular to batch jobs: the admin's templates and the limits of
 * what users may submit and read.
 */
import { Type, type Static } from '@sinclair/typebox';
import { spawnerKinds } from '../../spawners/kinds.js';

const IDENT = '^[a-z][a-z0-9_]{0,31}$';

export const JobField = Type.Object(
  {
    name: Type.String({ pattern: IDENT, description: 'Variable name used as {name} in the script (lower case, digits, _).' }),
    label: Type.String({ description: 'Label shown in the form.' }),
    type: Type.Union([Type.Literal('number'), Type.Literal('text'), Type.Literal('select')], { default: 'number', description: 'number: an integer within min/max; text: one word matching `pattern`; select: one of `choices`.' }),
    min: Type.Optional(Type.Integer({ description: 'number: the least value accepted.' })),
    max: Type.Optional(Type.Integer({ description: 'number: the largest value accepted.' })),
    pattern: Type.String({ default: '^[A-Za-z0-9_.,:/=+-]{1,200}$', description: 'text: a regular expression the whole value must match (the value is shell-quoted anyway).' }),
    choices: Type.Array(Type.String(), { default: [], description: 'select: the values offered.' }),
    default: Type.Optional(Type.Union([Type.String(), Type.Integer()], { description: 'Value the form starts with.' })),
    help: Type.Optional(Type.String({ description: 'A line of help under the field.' })),
  },
  { additionalProperties: false, description: 'One form field of a job template.' },
);

export const JobTemplate = Type.Object(
  {
    name: Type.String({ pattern: '^[a-z0-9][a-z0-9_-]{0,39}$', description: 'Template id (in URLs and the API).' }),
    title: Type.String({ description: 'What users see, e.g. "MPI run".' }),
    description: Type.String({ default: '', description: 'A sentence under the title.' }),
    fields: Type.Array(JobField, { default: [], description: 'Form fields; each value fills {name} in the script, validated and shell-quoted.' }),
    script: Type.String({
      description:
        'The batch script. {field} is replaced by the field\'s validated, shell-quoted value; the admin variables {username} and {homedir} cannot be set by users (a field may not use those names).',
    }),
  },
  { additionalProperties: false, description: 'An admin-provided job template.' },
);

export const JobsSection = Type.Object(
  {
    enabled: Type.Boolean({ default: false, description: 'Offer batch jobs (pages /hub/jobs, /hub/my-work and the /hub/api/jobs API). Needs a spawner kind with batch jobs (Slurm): jobs use its cluster, commands and runAs.' }),
    customScripts: Type.Boolean({ default: true, description: 'Users may submit a script they type or upload (it runs as them, like a login-node sbatch). false: templates only.' }),
    templates: Type.Array(JobTemplate, { default: [], description: 'Admin-provided templates with form fields.' }),
    maxScriptBytes: Type.Integer({ default: 65536, minimum: 256, description: 'Largest script accepted.' }),
    outputMaxBytes: Type.Integer({ default: 262144, minimum: 1024, description: 'Most bytes of an output or error file sent at once (the tail when no offset is given).' }),
    historyLimit: Type.Integer({ default: 200, minimum: 1, description: 'Finished jobs kept per user in the history (older ones are forgotten, their files stay).' }),
    maxArrayTasks: Type.Integer({
      default: 1000,
      minimum: 1,
      description: 'Most tasks in one job array (an #SBATCH --array line or the array field); a larger spec is refused before sbatch. Slurm\'s own MaxArraySize still applies.',
    }),
  },
  { additionalProperties: false, default: {}, description: 'HPC portal: batch jobs from the browser and the API (Slurm).' },
);

export type JobsConfig = Static<typeof JobsSection>;
export type JobTemplateConfig = Static<typeof JobTemplate>;
export type JobFieldConfig = Static<typeof JobField>;

/** Variables the hub fills itself; a field of the same name could override them. */
export const ADMIN_VARIABLES = ['username', 'homedir'] as const;

type Problem = { segments: (string | number)[]; message: string };
const obj = (v: unknown): Record<string, unknown> => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {});

/** Rules JSON Schema cannot say: names unique, admin variables kept, regexes that compile. */
export function jobsProblems(root: Record<string, unknown>): Problem[] {
  const jobs = obj(root.jobs);
  const out: Problem[] = [];
  const kind = spawnerKinds.kinds.find((k) => k.name === obj(root.spawner).kind) as { batchJobs?: boolean } | undefined;
  if (jobs.enabled === true && kind && !kind.batchJobs) {
    out.push({ segments: ['jobs', 'enabled'], message: `batch jobs need a spawner kind that runs them (Slurm), not ${String(obj(root.spawner).kind)}` });
  }
  const seen = new Set<string>();
  (Array.isArray(jobs.templates) ? jobs.templates : []).forEach((t: unknown, i) => {
    const tpl = obj(t);
    if (typeof tpl.name === 'string') {
      if (seen.has(tpl.name)) out.push({ segments: ['jobs', 'templates', i, 'name'], message: `template "${tpl.name}" is defined twice` });
      seen.add(tpl.name);
    }
    const names = new Set<string>();
    (Array.isArray(tpl.fields) ? tpl.fields : []).forEach((f: unknown, j) => {
      const field = obj(f);
      const at = ['jobs', 'templates', i, 'fields', j];
      if (typeof field.name === 'string') {
        if ((ADMIN_VARIABLES as readonly string[]).includes(field.name)) out.push({ segments: [...at, 'name'], message: `"${field.name}" is set by the hub and cannot be a field` });
        if (names.has(field.name)) out.push({ segments: [...at, 'name'], message: `field "${field.name}" is defined twice` });
        names.add(field.name);
      }
      if (typeof field.pattern === 'string') {
        try {
          new RegExp(field.pattern);
        } catch (err) {
          out.push({ segments: [...at, 'pattern'], message: `not a regular expression: ${(err as Error).message}` });
        }
      }
      if (field.type === 'select' && (!Array.isArray(field.choices) || field.choices.length === 0)) out.push({ segments: [...at, 'choices'], message: 'a select field needs choices' });
      if (typeof field.min === 'number' && typeof field.max === 'number' && field.min > field.max) out.push({ segments: [...at, 'max'], message: 'max is below min' });
    });
  });
  return out;
}
