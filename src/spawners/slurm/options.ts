/**
 * Config block of the Slurm spawner (`spawner.slurm` in atrium.yaml). One batch job per user
 * server. Everything that reaches the batch script is admin-set here, except the resource fields
 * of the spawn form, which parseOptions checks against the partition and group limits below.
 */
import { Type, type Static } from '@sinclair/typebox';
import { DEFAULT_BATCH_SCRIPT } from './template.js';

const Size = (description: string) =>
  Type.String({ pattern: '^\\s*\\d+(\\.\\d+)?\\s*([kKmMgGtT]i?[bB]?)?\\s*$', description: `${description} A size like "512M", "4G" (no unit: megabytes, as Slurm reads --mem).` });
const Walltime = (description: string) =>
  Type.String({
    pattern: '^\\s*((\\d+-)?\\d{1,2}:\\d{2}(:\\d{2})?|\\d+)\\s*$',
    description: `${description} Slurm's form: "MM", "HH:MM:SS", "D-HH:MM:SS" (a bare number is minutes).`,
  });

const Limits = {
  maxCores: Type.Optional(Type.Integer({ minimum: 1, description: 'Most CPU cores one server may ask for.' })),
  maxMemory: Type.Optional(Size('Most memory one server may ask for.')),
  maxGpus: Type.Optional(Type.Integer({ minimum: 0, description: 'Most GPUs one server may ask for (0: none).' })),
  maxWalltime: Type.Optional(Walltime('Longest walltime one server may ask for.')),
};

const GroupLimits = Type.Object(Limits, {
  additionalProperties: false,
  description: 'Limits for members of one group; they replace the partition limits they name (a user in several groups gets the most generous).',
});

const Partition = Type.Object(
  {
    name: Type.String({ pattern: '^[A-Za-z0-9_.-]+$', description: 'Slurm partition name.' }),
    label: Type.Optional(Type.String({ description: 'Shown in the spawn form (default: the name).' })),
    description: Type.Optional(Type.String({ description: 'One line shown under the choice.' })),
    ...Limits,
    defaultCores: Type.Integer({ default: 1, minimum: 1, description: 'Cores when the user does not choose.' }),
    defaultMemory: Type.Optional(Size('Memory when the user does not choose (default: the partition default).')),
    defaultWalltime: Walltime('Walltime when the user does not choose.'),
    gres: Type.String({ default: 'gpu', pattern: '^[A-Za-z0-9_:.-]+$', description: 'GRES name GPUs are requested as (--gres=NAME:N).' }),
    groups: Type.Optional(Type.Array(Type.String(), { description: 'Only members of these groups may use this partition (default: everyone).' })),
    groupLimits: Type.Record(Type.String(), GroupLimits, { default: {}, description: 'Limits per group name, e.g. {"staff": {"maxCores": 32}}.' }),
  },
  { additionalProperties: false, description: 'One partition users may choose, with its limits.' },
);
export type SlurmPartition = Static<typeof Partition>;

const Environment = Type.Object(
  {
    name: Type.String({ pattern: '^[A-Za-z0-9_.-]+$', description: 'Value the form and the API send.' }),
    label: Type.Optional(Type.String({ description: 'Shown in the spawn form (default: the name).' })),
    description: Type.Optional(Type.String({ description: 'One line shown under the choice.' })),
    setup: Type.String({ default: '', description: 'Shell lines run before the server, e.g. "module load jupyterlab/4" or "source /opt/conda/bin/activate py311".' }),
    prefix: Type.String({ default: '', description: 'Words put before the server command, e.g. "apptainer exec /images/lab.sif" or "conda run -n py311".' }),
  },
  { additionalProperties: false, description: 'One software environment (modules, a conda environment, a container image).' },
);
export type SlurmEnvironment = Static<typeof Environment>;

const Interface = Type.Object(
  {
    name: Type.String({ pattern: '^[A-Za-z0-9_.-]+$' }),
    label: Type.String(),
    defaultUrl: Type.String({ pattern: '^/', description: 'JUPYTERHUB_DEFAULT_URL for this interface, e.g. /lab or /tree.' }),
  },
  { additionalProperties: false, description: 'One user interface.' },
);

export const SlurmSpawnerOptions = Type.Object(
  {
    batchScript: Type.String({
      default: DEFAULT_BATCH_SCRIPT,
      description:
        'Batch script template with batchspawner\'s variable names ({partition}, {account}, {qos}, {reservation}, {runtime}, {memory}, {nprocs}, {ngpus}, {gres}, {options}, {prologue}, {epilogue}, {srun}, {keepvars}, {homedir}, {username}, {servername}, {jobname}, {cmd}); {{name}} and {% if name %}…{% endif %} work too. An #SBATCH line whose variable is empty is left out.',
    }),
    commands: Type.Object(
      {
        sbatch: Type.String({ default: 'sbatch' }),
        squeue: Type.String({ default: 'squeue' }),
        scancel: Type.String({ default: 'scancel' }),
        scontrol: Type.String({ default: 'scontrol' }),
        sacctmgr: Type.String({ default: 'sacctmgr' }),
        sacct: Type.String({ default: 'sacct', description: 'Exit codes of finished portal jobs (jobs.enabled); scontrol is asked when accounting is off.' }),
      },
      { additionalProperties: false, default: {}, description: 'Paths of the Slurm client commands (free resources come from scontrol, which reports allocated memory and GPUs per node).' },
    ),
    clientEnvironment: Type.Record(Type.String(), Type.String(), {
      default: {},
      description: 'Environment of every Slurm client command the hub runs, e.g. {"SLURM_CONF": "/etc/slurm/cluster.conf"}.',
    }),
    runAs: Type.Union([Type.Literal('sudo'), Type.Literal('uid'), Type.Literal('hub')], {
      default: 'sudo',
      description:
        'Who submits and cancels jobs: "sudo" runs sbatch/scancel through sudoPrefix (needs SETENV in sudoers, as batchspawner); "uid" runs them with the NB_UID/NB_GID a pre-spawn hook (ldap-account) set, the hub running as root; "hub" as the hub\'s own user (tests, single-user setups).',
    }),
    sudoPrefix: Type.Array(Type.String(), { default: ['sudo', '-E', '-u', '{username}'], description: 'Command prefix for runAs: sudo; {username} is filled in.' }),
    jobEnvironment: Type.Record(Type.String(), Type.String(), { default: {}, description: 'Extra environment of every job; {username} is filled in.' }),
    path: Type.String({ default: '/usr/local/bin:/usr/bin:/bin', description: 'PATH of the job (the hub\'s own environment is never exported).' }),
    homeDir: Type.String({ default: '/home/{username}', description: '{homedir}: where the job starts and writes its output; {username} is filled in.' }),
    jobName: Type.String({ default: 'atrium-{username}{-servername}', description: 'Job name; {username}, {servername} and {-servername} ("-name" or nothing) are filled in.' }),
    cmd: Type.Array(Type.String(), { default: ['jupyterhub-singleuser'], description: 'The server command, run by the port wrapper.' }),
    python: Type.String({ default: 'python3', description: 'Python on the compute nodes, for the wrapper that picks the port and reports it.' }),
    srun: Type.String({ default: 'srun', description: '{srun}: launcher of the server inside the job ("" to run it in the batch shell).' }),
    prologue: Type.String({ default: '', description: '{prologue}: shell lines before the server (admin only).' }),
    epilogue: Type.String({ default: '', description: '{epilogue}: shell lines after the server (admin only).' }),
    extraOptions: Type.String({ default: '', description: '{options}: extra #SBATCH options, e.g. "--constraint=gpu" (admin only).' }),
    qos: Type.String({ default: '', description: '{qos}: QOS of every job ("": the association default).' }),
    partitions: Type.Array(Partition, {
      default: [],
      description: 'Partitions users may choose, the first the default. Empty: jobs go to the cluster default partition with the limits in `limits`.',
    }),
    limits: Type.Object(
      { ...Limits, defaultCores: Type.Integer({ default: 1, minimum: 1 }), defaultWalltime: Walltime('Default walltime.'), groupLimits: Type.Record(Type.String(), GroupLimits, { default: {} }) },
      { additionalProperties: false, default: { defaultWalltime: '60' }, description: 'Limits when no partitions are listed.' },
    ),
    accounts: Type.Object(
      {
        fromSacctmgr: Type.Boolean({ default: true, description: 'Offer the user\'s own accounts from `sacctmgr show assoc` (needs slurmdbd).' }),
        fallback: Type.Array(Type.String({ pattern: '^[A-Za-z0-9_.-]+$' }), {
          default: [],
          description: 'Accounts offered when accounting is off or sacctmgr fails; Slurm still checks them at submission when accounting is on.',
        }),
      },
      { additionalProperties: false, default: {}, description: 'Account choice.' },
    ),
    reservations: Type.Boolean({ default: true, description: 'Offer the active reservations the user may use (`scontrol show reservation`).' }),
    environments: Type.Array(Environment, { default: [], description: 'Software environments users may choose, the first the default.' }),
    interfaces: Type.Array(Interface, {
      default: [
        { name: 'lab', label: 'JupyterLab', defaultUrl: '/lab' },
        { name: 'notebook', label: 'Classic notebook', defaultUrl: '/tree' },
      ],
      description: 'User interfaces users may choose, the first the default.',
    }),
    poll: Type.Object(
      {
        intervalSeconds: Type.Number({ default: 30, minimum: 1, description: 'One squeue call for all jobs of the hub this often.' }),
        startIntervalSeconds: Type.Number({ default: 1, minimum: 0.2, description: 'Interval while a spawn waits for its job (queued, starting).' }),
        jitter: Type.Number({ default: 0.2, minimum: 0, maximum: 0.9, description: 'Random spread of the interval (0.2: ±20%).' }),
        maxBackoffSeconds: Type.Number({ default: 300, minimum: 1, description: 'Longest interval after repeated squeue failures.' }),
      },
      { additionalProperties: false, default: {}, description: 'The shared poller.' },
    ),
    bindAddress: Type.String({ default: '0.0.0.0', description: 'Address the server binds on its compute node.' }),
    connectTo: Type.Union([Type.Literal('node-addr'), Type.Literal('reported-host')], {
      default: 'node-addr',
      description: '"node-addr": the hub connects to the NodeAddr of the job\'s node; "reported-host": to the host the job reported (accepted only when it names one of the job\'s nodes).',
    }),
    reportUrl: Type.Optional(Type.String({
      pattern: '^https?://',
      description: 'URL jobs post their port to (default: JUPYTERHUB_API_URL + "/batchspawner"); set it when compute nodes reach the hub at another address.',
    })),
    stopTimeoutSeconds: Type.Integer({ default: 10, minimum: 0, description: 'After SIGTERM, time before the job is cancelled for good.' }),
    outputTailLines: Type.Integer({ default: 20, minimum: 0, description: 'Lines of the job output shown when a job ends before its server started.' }),
    resourcesCacheSeconds: Type.Number({ default: 10, minimum: 0, description: 'How long sinfo/sacctmgr/reservation answers are reused.' }),
  },
  { additionalProperties: false, default: {}, description: 'The Slurm spawner (spawner.kind: slurm): one batch job per server.' },
);
export type SlurmSpawnerOptions = Static<typeof SlurmSpawnerOptions>;
