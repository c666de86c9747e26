import { Type, type Static } from '@sinclair/typebox';

export const LocalSpawnerOptions = Type.Object(
  {
    cmd: Type.Array(Type.String(), {
      default: ['jupyterhub-singleuser'],
      minItems: 1,
      description:
        'Command that starts the single-user server (it reads the JupyterHub environment). When it is jupyterhub-singleuser and the server would run as root, --allow-root is added.',
    }),
    args: Type.Array(Type.String(), { default: [], description: 'Extra arguments appended to cmd.' }),
    ip: Type.String({ default: '127.0.0.1', description: 'Address the server listens on.' }),
    runAs: Type.Union([Type.Literal('hub'), Type.Literal('system-user')], {
      default: 'hub',
      description:
        '"hub": run as the hub\'s own user (development, or a dedicated service account). "system-user": run as the Unix account named like the Atrium user (or NB_UID/NB_GID from a hook); needs root.',
    }),
    homeTemplate: Type.String({
      default: '',
      description:
        'Working directory and HOME, {username} filled in (created 0700 if missing). Empty = the system user\'s home (runAs system-user), or <homeRoot>/<username> (runAs hub).',
    }),
    homeRoot: Type.String({
      default: '',
      description:
        'Without homeTemplate: the folder that holds one home per user, <homeRoot>/<username>, 0700. runAs hub: owned by the hub\'s user; empty = <hub.stateDir>/homes, private to this hub and kept across reboots (back it up with the state directory); a home left in the old shared default <tmpdir>/atrium-homes/<username> is moved here at the user\'s first start after the upgrade when it belongs to this hub (see docs/spawners/local.md). runAs system-user: when set, replaces the account\'s home, each home owned by the user (the root folder is made 0755); empty = the account\'s home.',
    }),
    nice: Type.Integer({
      default: 10,
      minimum: 0,
      maximum: 19,
      description:
        'CPU priority of the server processes (Unix nice, inherited by kernels). Above 0 (the default 10) a class starting at once cannot starve the hub and the proxy, which stay at their own priority; 0 = same as the hub.',
    }),
    launcher: Type.Boolean({
      default: true,
      description:
        'Start servers through a small helper process (atrium-launcher, a child of the hub) instead of forking the hub itself: a fork of the hub stalls it for tens of milliseconds per server, growing with its memory, which a class starting at once feels as slow pages. false = fork from the hub (as before). The servers are detached either way and outlive the hub.',
    }),
    stopGraceSeconds: Type.Number({ default: 5, minimum: 0, description: 'Time between SIGTERM and SIGKILL on stop.' }),
    envKeep: Type.Array(Type.String(), {
      default: ['PATH', 'PYTHONPATH', 'CONDA_ROOT', 'CONDA_DEFAULT_ENV', 'VIRTUAL_ENV', 'LANG', 'LC_ALL', 'JUPYTERHUB_SINGLEUSER_APP'],
      description: 'Variables copied from the hub\'s environment when present.',
    }),
  },
  { additionalProperties: false, default: {}, description: 'The local process spawner (spawner.kind: local).' },
);
export type LocalSpawnerOptions = Static<typeof LocalSpawnerOptions>;
