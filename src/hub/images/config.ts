/**
 * Config blocks of the teaching-staff features (issue 13): `images` (preloading onto Swarm
 * nodes) and `staff` (the teaching-staff role and warm servers). Both are off by default.
 */
import { Type, type Static } from '@sinclair/typebox';

export const ImagesSection = Type.Object(
  {
    enabled: Type.Boolean({ default: false, description: 'Turn on image preloading (the Images page, /hub/api/images/*, `atrium images`).' }),
    dockerUrl: Type.String({
      default: 'unix:///var/run/docker.sock',
      description: 'Docker Engine API of a Swarm manager: lists the nodes (unix:///path/docker.sock, a socket path, or http://host:port).',
    }),
    nodeEngineUrl: Type.String({
      default: '',
      description:
        'Engine API of every node, with {hostname}, {address} or {id} filled in, e.g. "http://{address}:2375" (a manager cannot pull on a worker, so each node is pulled through its own engine). Empty: only the manager itself is reached (through dockerUrl).',
    }),
    nodeEngines: Type.Record(Type.String(), Type.String(), {
      default: {},
      description: 'Engine API per node (key: hostname, address or node id); wins over nodeEngineUrl.',
    }),
    registries: Type.Array(
      Type.Object(
        {
          host: Type.String({ minLength: 1, description: 'Registry host[:port] as it appears in image references.' }),
          username: Type.String({ description: 'User name.' }),
          password: Type.String({ description: 'Password or token; use ${ENV_VAR} so the secret stays out of the file.' }),
        },
        { additionalProperties: false, description: 'Credentials for one registry.' },
      ),
      { default: [], description: 'Registry credentials used for pulls.' },
    ),
    continuousIntervalSeconds: Type.Number({
      default: 30,
      minimum: 1,
      description: 'How often continuous preloads look for new nodes (and re-check the others).',
    }),
    pullTimeoutSeconds: Type.Number({ default: 1800, minimum: 1, description: 'A pull on one node that takes longer is reported failed.' }),
    jobFallback: Type.Boolean({
      default: true,
      description:
        'A schedulable node without an engine endpoint is pulled onto through a one-task Swarm job on that node (its image the one to preload, a no-op command; progress is the task state, no bytes; removed afterwards). false: such nodes are reported failed ("no engine endpoint").',
    }),
    jobLabel: Type.String({
      default: 'atrium',
      pattern: '^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,31}$',
      description: 'Value of the atrium.preload label on this hub\'s preload jobs; a hub removes leftover jobs with its own value at start (give hubs sharing a swarm different values).',
    }),
  },
  { additionalProperties: false, default: {}, description: 'Preloading images onto every Swarm node (teaching staff, issue 13).' },
);
export type ImagesConfig = Static<typeof ImagesSection>;

export const StaffSection = Type.Object(
  {
    teachingStaff: Type.Array(
      Type.Object(
        {
          users: Type.Array(Type.String(), { description: 'User names holding the role.' }),
          groups: Type.Array(Type.String(), { minItems: 1, description: 'Course groups they manage.' }),
        },
        { additionalProperties: false, description: 'One teaching-staff assignment.' },
      ),
      {
        default: [],
        description:
          'Teaching staff: may manage environments and preloads, and see, start and stop servers, of their own course groups only — without being hub admins.',
      },
    ),
    warmUnusedStopSeconds: Type.Integer({
      default: 1800,
      minimum: 0,
      description: 'A warm (pre-started) server nobody has used within this time after it started is stopped (0: never).',
    }),
    warmCheckIntervalSeconds: Type.Number({ default: 5, minimum: 0.2, description: 'How often scheduled warm starts and unused warm servers are checked.' }),
  },
  { additionalProperties: false, default: {}, description: 'Teaching staff and warm servers for class start (issue 13).' },
);
export type StaffConfig = Static<typeof StaffSection>;
