/**
 * Config block of the Docker Swarm spawner (`spawner.swarm` in atrium.yaml). One Swarm service per
 * user server; admins define the image list, limits and mounts here, users only pick among them.
 */
import { Type, type Static } from '@sinclair/typebox';

const Size = (description: string) =>
  Type.Union([Type.String({ pattern: '^\\s*\\d+(\\.\\d+)?\\s*([kKmMgGtT]i?[bB]?|[bB])?\\s*$' }), Type.Integer({ minimum: 0 })], {
    description: `${description} Bytes, or a size string like "512M", "2G", "1.5Gi".`,
  });

const ImageChoice = Type.Object(
  {
    image: Type.String({ minLength: 1, description: 'Image reference, e.g. quay.io/jupyter/base-notebook:2024-10-07.' }),
    name: Type.Optional(Type.String({ description: 'Short name shown in the spawn form (default: the image).' })),
    description: Type.Optional(Type.String({ description: 'One line shown under the choice in the spawn form.' })),
  },
  { additionalProperties: false, description: 'One image users may choose.' },
);

const Common = {
  target: Type.String({ pattern: '^/', description: 'Path inside the container.' }),
  readOnly: Type.Boolean({ default: false, description: 'Mount read-only.' }),
};

const BindMount = Type.Object(
  {
    type: Type.Literal('bind'),
    source: Type.String({ pattern: '^/', description: 'Path on the node; {username} and {servername} are filled in.' }),
    ...Common,
  },
  { additionalProperties: false, description: 'A directory of the node (must exist on every node).' },
);

const VolumeMount = Type.Object(
  {
    type: Type.Literal('volume'),
    source: Type.String({ minLength: 1, description: 'Volume name; {username} and {servername} are filled in (e.g. home-{username}).' }),
    ...Common,
    driver: Type.Optional(Type.String({ description: 'Volume driver (default: local).' })),
    driverOptions: Type.Record(Type.String(), Type.String(), { default: {}, description: 'Driver options, with the same placeholders.' }),
    ephemeral: Type.Boolean({ default: false, description: 'Remove the volume when the server stops (otherwise it persists, like a home volume).' }),
  },
  { additionalProperties: false, description: 'A Docker volume, created on the node when missing.' },
);

const TmpfsMount = Type.Object(
  {
    type: Type.Literal('tmpfs'),
    target: Common.target,
    sizeBytes: Type.Optional(Size('Size limit of the tmpfs.')),
  },
  { additionalProperties: false, description: 'A memory-backed scratch directory.' },
);

const SshfsMount = Type.Object(
  {
    type: Type.Literal('sshfs'),
    ...Common,
    authStateKey: Type.String({
      default: 'mount_data',
      description:
        'Key in auth_state holding the mount fields (an object or a JSON string), e.g. what the header authenticator stored from the portal header: {"HOST","USERNAME","PATH","PRIVATEKEY","PORT"}.',
    }),
    driver: Type.String({ default: 'atrium-sshfs', description: 'Name the atrium sshfs volume driver runs under on every node.' }),
    options: Type.Record(Type.String(), Type.String(), {
      default: { sshcmd: '{USERNAME}@{HOST}:{PATH}', port: '{PORT}', id_rsa: '{PRIVATEKEY}' },
      description:
        'Driver options; {FIELD} is replaced by that field of the auth_state object ({username}/{servername} too). Option names are those of docker-volume-sshfs (sshcmd, port, id_rsa, IdentityFile, password, host_key, …).',
    }),
    optional: Type.Boolean({ default: false, description: 'Spawn without this mount when auth_state has no mount fields (otherwise the spawn fails).' }),
  },
  { additionalProperties: false, description: 'A remote folder mounted with sshfs through the atrium sshfs volume driver; the volume lives as long as the server.' },
);

export const SwarmMount = Type.Union([BindMount, VolumeMount, TmpfsMount, SshfsMount], { description: 'One mount.' });
export type SwarmMount = Static<typeof SwarmMount>;

export const SwarmSpawnerOptions = Type.Object(
  {
    dockerUrl: Type.String({
      default: 'unix:///var/run/docker.sock',
      description: 'Docker Engine API of a Swarm manager: unix:///path/docker.sock, a bare socket path, or http://host:port.',
    }),
    hubId: Type.String({
      default: 'atrium',
      pattern: '^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,31}$',
      description: 'Label value tying services to this hub, so several hubs can share one swarm.',
    }),
    images: Type.Array(ImageChoice, {
      default: [{ image: 'quay.io/jupyter/base-notebook:latest', name: 'Base notebook' }],
      minItems: 1,
      description: 'Images users may choose; the first one is the default. Nothing else is accepted.',
    }),
    command: Type.Array(Type.String(), { default: ['jupyterhub-singleuser'], description: 'Command of the container (replaces the image CMD).' }),
    args: Type.Array(Type.String(), { default: [], description: 'Extra arguments after the command.' }),
    environment: Type.Record(Type.String(), Type.String(), { default: {}, description: 'Extra environment for every container (after the hub\'s).' }),
    cpuLimit: Type.Optional(Type.Number({ exclusiveMinimum: 0, description: 'Default CPU limit (cores).' })),
    cpuReservation: Type.Optional(Type.Number({ exclusiveMinimum: 0, description: 'CPU cores reserved for scheduling.' })),
    maxCpuLimit: Type.Optional(Type.Number({ exclusiveMinimum: 0, description: 'Largest CPU limit a user may ask for (a larger request is refused with this limit named; environments of the catalogue are lowered to it).' })),
    cpuChoices: Type.Array(Type.Number({ exclusiveMinimum: 0 }), { default: [], description: 'CPU limits offered in the spawn form.' }),
    memoryLimit: Type.Optional(Size('Default memory limit.')),
    memoryReservation: Type.Optional(Size('Memory reserved for scheduling.')),
    maxMemoryLimit: Type.Optional(Size('Largest memory limit a user may ask for (a larger request is refused with this limit named; environments of the catalogue are lowered to it).')),
    memoryChoices: Type.Array(Type.String(), { default: [], description: 'Memory limits offered in the spawn form, e.g. ["2G", "8G"].' }),
    placementConstraints: Type.Array(Type.String(), { default: [], description: 'Swarm placement constraints, e.g. node.labels.notebooks==true.' }),
    genericResources: Type.Record(Type.String(), Type.Integer({ minimum: 1 }), {
      default: {},
      description: 'Generic resources reserved per server, e.g. {"gpu": 1} (nodes must advertise them).',
    }),
    network: Type.String({
      default: 'host',
      description: '"host": host networking, the server listens on a port from hostPortRange on its node. Otherwise the name of an overlay network the hub is attached to; the hub reaches the server by service name.',
    }),
    port: Type.Integer({ default: 8888, minimum: 1, maximum: 65535, description: 'Port of the server on an overlay network.' }),
    hostPortRange: Type.Tuple([Type.Integer({ minimum: 1024, maximum: 65535 }), Type.Integer({ minimum: 1024, maximum: 65535 })], {
      default: [20000, 29999],
      description: 'Ports chosen for servers with host networking (kept below the ephemeral range).',
    }),
    hostBindAddress: Type.String({
      default: '0.0.0.0',
      description: 'With host networking: the address the server binds on its node (127.0.0.1 for a single-node swarm).',
    }),
    serverHost: Type.Optional(Type.String({ description: 'Host the hub uses to reach servers, overriding the node address / service name.' })),
    mounts: Type.Array(SwarmMount, { default: [], description: 'Mounts of every server.' }),
    uidFromEnv: Type.Boolean({
      default: true,
      description: 'Run the container as NB_UID:NB_GID when a pre-spawn hook (ldap-account) put them in the environment.',
    }),
    user: Type.Optional(Type.String({ description: 'Container user when there is no NB_UID (e.g. "1000:100"); default: the image\'s.' })),
    unschedulableGraceSeconds: Type.Number({
      default: 0,
      minimum: 0,
      description: 'How long a task may report "no suitable node" before the spawn fails (0: fail at once).',
    }),
    pullProgressEngineUrl: Type.String({
      default: '',
      description:
        'Engine API of each node, with {hostname}, {address} or {id} filled in (as images.nodeEngineUrl): when set and the image is not on the node a server was placed on, the spawn page shows the pull\'s bytes, and the web shell reaches servers on nodes other than the one dockerUrl talks to. Empty: only "pulling the image", and a shell into a server on another node is refused.',
    }),
    stopTimeoutSeconds: Type.Integer({ default: 10, minimum: 0, description: 'Grace period after SIGTERM before the container is killed.' }),
  },
  { additionalProperties: false, default: {}, description: 'The Docker Swarm spawner (spawner.kind: swarm).' },
);
export type SwarmSpawnerOptions = Static<typeof SwarmSpawnerOptions>;
