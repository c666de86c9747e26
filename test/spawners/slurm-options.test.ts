/**
 * The Slurm spawner's pure parts: the template filler, the limits parseOptions enforces, the
 * form that shows them, and the submission (what reaches sbatch's arguments, stdin and env).
 */
import { Value } from '@sinclair/typebox/value';
import { describe, expect, it } from 'vitest';
import { slurmOptionsForm } from '../../src/spawners/slurm/form.js';
import { effectiveMaxWalltime } from '../../src/spawners/slurm/resources.js';
import { formatWalltime, parseMemoryMb, parseSlurmOptions, parseWalltimeMinutes } from '../../src/spawners/slurm/limits.js';
import { SlurmSpawnerOptions } from '../../src/spawners/slurm/options.js';
import { buildSubmission } from '../../src/spawners/slurm/submit.js';
import { DEFAULT_BATCH_SCRIPT, fillTemplate, TEMPLATE_VARIABLES, type TemplateVars } from '../../src/spawners/slurm/template.js';
import type { SpawnUser } from '../../src/spawners/spawner.js';

const vars = (p: Partial<TemplateVars>): TemplateVars => ({ ...(Object.fromEntries(TEMPLATE_VARIABLES.map((k) => [k, ''])) as TemplateVars), ...p });
const options = (p: Record<string, unknown> = {}) => Value.Default(SlurmSpawnerOptions, structuredClone(p)) as SlurmSpawnerOptions;
const alice: SpawnUser = { name: 'alice', admin: false, groups: [] };
const staff: SpawnUser = { name: 'bob', admin: false, groups: ['staff', 'gpu-users'] };

const site = options({
  partitions: [
    { name: 'normal', maxCores: 4, maxMemory: '16G', maxWalltime: '4:00:00', defaultWalltime: '60', groupLimits: { staff: { maxCores: 32, maxWalltime: '1-00:00:00' } } },
    { name: 'gpu', maxCores: 8, maxGpus: 1, defaultWalltime: '30', groups: ['gpu-users'], groupLimits: { staff: { maxGpus: 2 }, 'gpu-users': { maxGpus: 4 } } },
  ],
  environments: [{ name: 'py311', setup: 'module load python/3.11', prefix: '' }, { name: 'lab-sif', prefix: 'apptainer exec /images/lab.sif' }],
});

describe('template filler', () => {
  it('fills {name} and {{name}}, keeps ${VAR} and unknown words, drops #SBATCH lines with empty values', () => {
    const out = fillTemplate(
      '#!/bin/bash\n#SBATCH --partition={partition}\n#SBATCH --account={{ account }}\necho ${HOME} {unknown} {username}\n{srun} {cmd}',
      vars({ partition: 'gpu', username: 'alice', cmd: 'run-it' }),
    );
    expect(out).toBe('#!/bin/bash\n#SBATCH --partition=gpu\necho ${HOME} {unknown} alice\n run-it');
  });

  it('supports batchspawner\'s {% if %} blocks', () => {
    const tpl = '{% if reservation %}#SBATCH --reservation={{reservation}}\n{% endif %}{% if ngpus %}#SBATCH --gres=gpu:{{ngpus}}\n{% endif %}x';
    expect(fillTemplate(tpl, vars({ ngpus: '2' }))).toBe('#SBATCH --gres=gpu:2\nx');
    expect(fillTemplate(tpl, vars({}))).toBe('x');
  });

  it('the default script asks for exactly what was requested', () => {
    const out = fillTemplate(DEFAULT_BATCH_SCRIPT, vars({ partition: 'normal', runtime: '01:00:00', nprocs: '2', homedir: '/home/a', jobname: 'atrium-a', cmd: 'python3 -c x' }));
    expect(out).toContain('#SBATCH --partition=normal\n');
    expect(out).toContain('#SBATCH --cpus-per-task=2\n');
    expect(out).not.toMatch(/--account|--gres|--reservation|--mem=/);
  });
});

describe('units', () => {
  it('walltimes in Slurm forms', () => {
    expect(parseWalltimeMinutes('90')).toBe(90);
    expect(parseWalltimeMinutes('1:30:00')).toBe(90);
    expect(parseWalltimeMinutes('1-00:00:00')).toBe(1440);
    expect(parseWalltimeMinutes('2-12')).toBe(3600);
    expect(parseWalltimeMinutes('ten')).toBeNull();
    expect(formatWalltime(1500)).toBe('1-01:00:00');
    expect(formatWalltime(90)).toBe('01:30:00');
  });
  it('memory sizes as --mem megabytes', () => {
    expect(parseMemoryMb('4G')).toBe(4096);
    expect(parseMemoryMb('512M')).toBe(512);
    expect(parseMemoryMb('2048')).toBe(2048);
    expect(parseMemoryMb('lots')).toBeNull();
  });
});

describe('parseOptions: admin limits', () => {
  it('defaults to the first partition and its defaults', () => {
    expect(parseSlurmOptions(site, {}, alice)).toEqual({ partition: 'normal', account: '', reservation: '', cores: 1, memory: 0, gpus: 0, walltime: 60, environment: 'py311', interface: 'lab' });
  });

  it('refuses values beyond the partition limits, naming the field', () => {
    expect(() => parseSlurmOptions(site, { cores: '5' }, alice)).toThrow(/cores: at most 4 in partition normal/);
    expect(() => parseSlurmOptions(site, { memory: '17G' }, alice)).toThrow(/memory: at most 16384M/);
    expect(() => parseSlurmOptions(site, { walltime: '5:00:00' }, alice)).toThrow(/walltime: at most 04:00:00/);
    expect(() => parseSlurmOptions(site, { gpus: 1 }, alice)).toThrow(/gpus: none available/);
    expect(() => parseSlurmOptions(site, { cores: '-1' }, alice)).toThrow(/cores/);
    expect(() => parseSlurmOptions(site, { cores: 0 }, alice)).toThrow(/cores: at least 1/);
  });

  it('group limits replace partition limits; several groups give the most generous', () => {
    expect(parseSlurmOptions(site, { cores: 32, walltime: '20:00:00' }, staff).cores).toBe(32);
    expect(() => parseSlurmOptions(site, { cores: 33 }, staff)).toThrow(/at most 32/);
    expect(parseSlurmOptions(site, { partition: 'gpu', gpus: '4' }, staff).gpus).toBe(4);
    expect(() => parseSlurmOptions(site, { partition: 'gpu', gpus: 5 }, staff)).toThrow(/gpus: at most 4/);
  });

  it('partitions restricted to groups are refused to others', () => {
    expect(() => parseSlurmOptions(site, { partition: 'gpu' }, alice)).toThrow(/not one you may use \(normal\)/);
  });

  it('only the form fields reach the job: admin variables and unknown keys are refused', () => {
    // comment: the job comment carries the hub's owner tag (crash safety); users cannot set it.
    for (const key of ['srun', 'prologue', 'epilogue', 'cmd', 'options', 'qos', 'homedir', 'keepvars', 'comment']) {
      expect(() => parseSlurmOptions(site, { [key]: 'rm -rf ~' }, alice)).toThrow(/unknown option/);
    }
    expect(() => parseSlurmOptions(site, { environment: 'other' }, alice)).toThrow(/environment: "other" is not offered/);
    expect(() => parseSlurmOptions(site, { account: 'a b;rm' }, alice)).toThrow(/account: .* is not a valid name/);
  });

  it('without sacctmgr, only the admin fallback accounts pass', () => {
    const o = options({ accounts: { fromSacctmgr: false, fallback: ['proj1'] } });
    expect(parseSlurmOptions(o, { account: 'proj1' }, alice).account).toBe('proj1');
    expect(() => parseSlurmOptions(o, { account: 'proj2' }, alice)).toThrow(/not offered \(proj1\)/);
  });

  it('its output parses again to itself (start() re-checks stored options)', () => {
    const once = parseSlurmOptions(site, { cores: 2, memory: '2G', walltime: '2:00:00', environment: 'lab-sif' }, alice);
    expect(parseSlurmOptions(site, { ...once }, alice)).toEqual(once);
  });
});

describe('form', () => {
  it('shows the partitions the user may use with their limits, and GPUs only where allowed', () => {
    const f = slurmOptionsForm(site, alice)!;
    const names = f.fields.map((x) => x.name);
    expect(names).toEqual(['partition', 'cores', 'memory', 'walltime', 'environment', 'interface']);
    expect(f.fields[0]!.choices!.map((c) => c.value)).toEqual(['normal']);
    expect(f.fields[0]!.choices![0]!.description).toContain('≤ 4 cores, ≤ 16G memory, no GPUs, ≤ 04:00:00 walltime');
    const g = slurmOptionsForm(site, staff)!;
    expect(g.fields.map((x) => x.name)).toContain('gpus');
    expect(g.fields[0]!.choices!.find((c) => c.value === 'gpu')!.description).toContain('≤ 4 GPUs');
  });

  it('prefills the last parsed options where they are still allowed, else the admin defaults', () => {
    const value = (f: ReturnType<typeof slurmOptionsForm>, name: string) => f!.fields.find((x) => x.name === name)?.default;
    const last = parseSlurmOptions(site, { partition: 'gpu', cores: 6, memory: '3G', gpus: 3, walltime: '1:30:00', environment: 'lab-sif' }, staff);
    const f = slurmOptionsForm(site, staff, { ...last });
    expect([value(f, 'partition'), value(f, 'cores'), value(f, 'memory'), value(f, 'gpus'), value(f, 'walltime'), value(f, 'environment')])
      .toEqual(['gpu', 6, '3G', 3, '01:30:00', 'lab-sif']);
    // alice may not use gpu: the partition falls back, and so do values beyond normal's limits (6 cores > 4).
    const a = slurmOptionsForm(site, alice, { ...last });
    expect([value(a, 'partition'), value(a, 'cores'), value(a, 'memory'), value(a, 'environment')]).toEqual(['normal', 1, '3G', 'lab-sif']);
    expect(value(a, 'walltime')).toBe('01:30:00');
    // Over a limit, of a wrong type, or no longer offered: defaults.
    const odd = slurmOptionsForm(site, alice, { partition: 'normal', cores: 99, memory: 0, walltime: 5 * 60, environment: 'gone', gpus: 'x' });
    expect([value(odd, 'cores'), value(odd, 'memory'), value(odd, 'walltime'), value(odd, 'environment')]).toEqual([1, '', '60', 'py311']);
  });

  it('the longest walltime shown is Slurm\'s MaxTime capped by the admin limit', () => {
    expect(effectiveMaxWalltime('08:00:00', null)).toBe('08:00:00');
    expect(effectiveMaxWalltime('UNLIMITED', null)).toBe('unlimited');
    expect(effectiveMaxWalltime('UNLIMITED', 240)).toBe('04:00:00');
    expect(effectiveMaxWalltime('1-00:00:00', 48 * 60)).toBe('1-00:00:00');
    expect(effectiveMaxWalltime('02:00:00', 240)).toBe('02:00:00');
  });
});

describe('submission', () => {
  const token = 'secret-token-0123456789abcdef';
  const env = { JUPYTERHUB_API_TOKEN: token, JPY_API_TOKEN: token, JUPYTERHUB_API_URL: 'http://hub:8081/hub/api', JUPYTERHUB_SERVICE_PREFIX: '/user/alice/' };

  it('passes the environment by name only: the token is in no argument and not in the script', () => {
    const req = parseSlurmOptions(site, { cores: 2, environment: 'lab-sif' }, alice);
    const sub = buildSubmission(site, req, { user: 'alice', server: '' }, env);
    expect(sub.args.join(' ')).not.toContain(token);
    expect(sub.script).not.toContain(token);
    expect(sub.args).toContain(`--export=${sub.exportNames.join(',')}`);
    expect(sub.exportNames).toContain('JUPYTERHUB_API_TOKEN');
    expect(sub.env.JUPYTERHUB_API_TOKEN).toBe(token);
    expect(sub.env.ATRIUM_REPORT_URL).toBe('http://hub:8081/hub/api/batchspawner');
    expect(sub.env.JUPYTERHUB_DEFAULT_URL).toBe('/lab');
    expect(sub.script).toContain('#SBATCH --cpus-per-task=2');
    expect(sub.script).toContain('apptainer exec /images/lab.sif python3 -c "$ATRIUM_SLURM_WRAPPER" jupyterhub-singleuser');
    expect(sub.script).toContain('#SBATCH --job-name=atrium-alice\n');
  });

  it('environment setup lines join the admin prologue', () => {
    const o = options({ ...structuredClone(site), prologue: 'echo admin' });
    const sub = buildSubmission(o, parseSlurmOptions(o, {}, alice), { user: 'alice', server: 'nb1' }, env);
    expect(sub.script).toContain('echo admin\nmodule load python/3.11\n');
    expect(sub.script).toContain('--job-name=atrium-alice-nb1');
  });

  it('refuses names that would need quoting in a script', () => {
    const req = parseSlurmOptions(site, {}, alice);
    expect(() => buildSubmission(site, req, { user: 'a$(id)', server: '' }, env)).toThrow(/user and server names/);
    expect(() => buildSubmission(site, req, { user: 'alice', server: 'x y' }, env)).toThrow(/user and server names/);
  });

  it('the schema defaults are valid', () => {
    expect(Value.Check(SlurmSpawnerOptions, options())).toBe(true);
  });
});
