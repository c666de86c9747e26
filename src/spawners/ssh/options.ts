/**
 * Config block of the SSH-tunnel spawner (`spawner.ssh` in atrium.yaml): a pool of remote hosts
 * reached over SSH, one server process per user server, tunnels both ways over one connection.
 */
import { Type, type Static } from '@sinclair/typebox';

const Host = Type.Object(
  {
    name: Type.String({ pattern: '^[A-Za-z0-9_.-]+$', description: 'Name of the host in logs, state and the spawn page.' }),
    address: Type.String({ minLength: 1, description: 'Address the hub connects to (IP or DNS name).' }),
    port: Type.Integer({ default: 22, minimum: 1, maximum: 65535 }),
    hostKeys: Type.Array(Type.String({ pattern: '^(ssh-|ecdsa-|sk-)\\S+ [A-Za-z0-9+/=]+' }), {
      default: [],
      description: 'Pinned host public keys ("ssh-ed25519 AAAA…"); when given, the known_hosts file is not consulted for this host.',
    }),
    knownHostsFile: Type.Optional(Type.String({ pattern: '^/', description: 'known_hosts file for this host (default: the block\'s knownHostsFile).' })),
    acceptUnknownHostKey: Type.Boolean({
      default: false,
      description: 'INSECURE: accept any host key of this host (logged as a warning at every connection). For throw-away test hosts only.',
    }),
    maxSessions: Type.Integer({ default: 100, minimum: 1, description: 'Most servers on this host at once.' }),
  },
  { additionalProperties: false, description: 'One remote host.' },
);
export type SshHost = Static<typeof Host>;

const HostRule = Type.Object(
  {
    users: Type.Optional(Type.String({ minLength: 1, description: 'Regular expression the hub user name must match (anchor it: "^prof-").' })),
    groups: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description: 'The user must be in at least one of these hub groups.' })),
    hosts: Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description: 'Names of hosts (from hosts) this rule sends the spawn to; the least busy reachable one is used.' }),
  },
  {
    additionalProperties: false,
    description: 'A host rule: when users and/or groups match (both, when both are given), the spawn may only go to these hosts.',
  },
);
export type SshHostRule = Static<typeof HostRule>;

const DataMount = Type.Object(
  {
    authStateKey: Type.String({
      default: 'mount_data',
      description:
        'Key in auth_state with the mount fields (an object or a JSON string): {"HOST","USERNAME","PATH","PRIVATEKEY","PORT"} — what the header authenticator stores for the Swarm spawner\'s sshfs mounts.',
    }),
    optional: Type.Boolean({ default: false, description: 'Start without the mount when auth_state has no mount fields (otherwise the spawn fails with a message).' }),
    root: Type.String({
      default: '/run/atrium-data',
      pattern: '^/',
      description: 'Folder on each host under which root mounts <root>/<user>/<server> (0700, owned by the user); no part of that path is under the user\'s control.',
    }),
    link: Type.String({
      default: 'data',
      pattern: '^([A-Za-z0-9_.-]+)?$',
      description: 'Name of a symlink to the mount in the user\'s home ("": none). An existing file or folder of that name is left alone.',
    }),
    readOnly: Type.Boolean({ default: false }),
    hostKeys: Type.Array(Type.String({ pattern: '^(ssh-|ecdsa-|sk-)\\S+ [A-Za-z0-9+/=]+' }), {
      default: [],
      description: 'Pinned host keys of the data server; when empty, knownHostsFile on the notebook host is used. Host keys are always checked.',
    }),
    knownHostsFile: Type.String({ default: '/etc/ssh/ssh_known_hosts', pattern: '^/', description: 'known_hosts file on the notebook hosts for the data server (when hostKeys is empty).' }),
    sshfs: Type.String({ default: 'sshfs', description: 'The sshfs program on the hosts.' }),
    timeoutSeconds: Type.Integer({ default: 30, minimum: 1, description: 'How long the mount may take.' }),
  },
  {
    additionalProperties: false,
    description:
      'Mount the user\'s data with sshfs on the host before the server starts, unmounted after it stops. Mounted by root through adminPrefix (login: admin-sudo only) with allow_other, default_permissions, the user\'s uid/gid and umask 077, so only the user (and root) can open it.',
  },
);
export type SshDataMount = Static<typeof DataMount>;

export const SshSpawnerOptions = Type.Object(
  {
    hosts: Type.Array(Host, { default: [], description: 'The host pool; a spawn goes to the reachable host with the fewest sessions.' }),
    hostRules: Type.Array(HostRule, {
      default: [],
      description:
        'Which hosts a user may get, checked in order: the first rule whose users pattern and groups match decides the host subset (fewest sessions first within it; no fallback to other hosts). A user no rule matches gets any host, fewest sessions first. Checked at config load: every host named exists, every pattern compiles.',
    }),
    knownHostsFile: Type.String({ default: '/etc/ssh/ssh_known_hosts', pattern: '^/', description: 'known_hosts file for hosts without pinned keys (hashed entries and [host]:port work).' }),
    login: Type.Union([Type.Literal('admin-sudo'), Type.Literal('user-key'), Type.Literal('user-cert')], {
      default: 'admin-sudo',
      description:
        '"admin-sudo": the hub logs in as adminUser with adminKeyFile (one connection per host for everybody) and starts the server through userPrefix; "user-key": it logs in as the user with the private key in auth_state[userKeyAuthStateKey] (one connection per host and user); "user-cert": it logs in as the user with an OpenSSH certificate (see userCert; needs the ssh2 patch that `npm ci` applies, checked at start).',
    }),
    userCert: Type.Object(
      {
        source: Type.Union([Type.Literal('hub-ca'), Type.Literal('auth-state')], {
          default: 'hub-ca',
          description:
            '"hub-ca": the hub signs a short-lived certificate for a fresh key at every connection with caKeyFile (hosts trust the CA with TrustedUserCAKeys); "auth-state": the authenticator or front proxy stored the user\'s private key in auth_state[userKeyAuthStateKey] and its certificate in auth_state[authStateKey].',
        }),
        authStateKey: Type.String({ default: 'ssh_certificate', description: 'auth-state: auth_state key holding the OpenSSH certificate line ("ssh-ed25519-cert-v01@openssh.com AAAA…").' }),
        caKeyFile: Type.String({
          default: '/etc/atrium/ssh/user_ca',
          pattern: '^/',
          description: 'hub-ca: the CA private key (OpenSSH format, no passphrase; ed25519, RSA or ECDSA). Refused when group or others may read it (chmod 600).',
        }),
        lifetimeSeconds: Type.Integer({ default: 300, minimum: 30, maximum: 86400, description: 'hub-ca: how long a certificate is valid after it is signed (it only has to outlive the login).' }),
        backdateSeconds: Type.Integer({ default: 120, minimum: 0, maximum: 3600, description: 'hub-ca: valid-after lies this far in the past, for hosts whose clock is behind the hub\'s.' }),
      },
      { additionalProperties: false, default: {}, description: 'login: user-cert — where the user\'s certificate comes from. The principal is the user\'s account on the host (remoteUser); the key id names the Atrium user and server.' },
    ),
    adminUser: Type.String({ default: 'atrium', description: 'Login of the hub on every host (admin-sudo).' }),
    adminKeyFile: Type.String({ default: '/etc/atrium/ssh/id_ed25519', pattern: '^/', description: 'Private key file of adminUser, readable by the hub only.' }),
    userPrefix: Type.Array(Type.String(), {
      default: ['sudo', '-n', '-H', '-u', '{username}', '--'],
      description: 'admin-sudo: command prefix that runs a command as the user on the host ({username} is filled in), e.g. ["runuser", "-u", "{username}", "--"] when adminUser is root.',
    }),
    adminPrefix: Type.Array(Type.String(), {
      default: ['sudo', '-n', '--'],
      description: 'admin-sudo: prefix of the sweep at hub start, which reads every process\'s environment ([] when adminUser is root).',
    }),
    userKeyAuthStateKey: Type.String({ default: 'ssh_private_key', description: 'user-key, and user-cert with source auth-state: auth_state key holding the user\'s OpenSSH private key.' }),
    userIdleCloseSeconds: Type.Number({
      default: 30,
      minimum: 0.1,
      description: 'user-key and user-cert: a user\'s connection with no server (no reverse tunnel) and no command running is closed after this long.',
    }),
    remoteUser: Type.String({ default: '{username}', description: 'Unix user on the hosts; {username} is the hub user name.' }),
    cmd: Type.Array(Type.String(), { default: ['jupyterhub-singleuser'], description: 'The server command on the host.' }),
    args: Type.Array(Type.String(), {
      default: ['--ip=127.0.0.1', '--port=0'],
      description:
        'Arguments after cmd. The default makes the server bind a free port on the host\'s loopback itself (no race); command-line options beat any user config file. Whatever the server does, the launcher refuses one that listens on a non-loopback address.',
    }),
    python: Type.String({ default: 'python3', description: 'Python 3 on the hosts, for the small launcher that starts the server and reads back its port.' }),
    path: Type.String({ default: '/usr/local/bin:/usr/bin:/bin', description: 'PATH of the server.' }),
    environment: Type.Record(Type.String(), Type.String(), { default: {}, description: 'Extra environment of every server; {username} is filled in.' }),
    workDir: Type.String({ default: '', description: 'Working directory of the server ("": the user\'s home).' }),
    connectTimeoutSeconds: Type.Number({ default: 10, minimum: 1, description: 'TCP + SSH handshake limit per host.' }),
    keepaliveIntervalSeconds: Type.Number({ default: 10, minimum: 1, description: 'SSH keepalive interval; keepaliveCountMax missed answers close the connection.' }),
    keepaliveCountMax: Type.Integer({ default: 3, minimum: 1 }),
    reconnectMaxBackoffSeconds: Type.Number({ default: 30, minimum: 0.5, description: 'Longest wait between reconnect attempts (the wait doubles from 0.25 s).' }),
    stopTimeoutSeconds: Type.Integer({ default: 10, minimum: 0, description: 'After SIGTERM to the process group, time before SIGKILL.' }),
    portTimeoutSeconds: Type.Integer({ default: 120, minimum: 1, description: 'How long the launcher waits for the server to listen.' }),
    dataMount: Type.Optional(DataMount),
  },
  { additionalProperties: false, default: {}, description: 'The SSH-tunnel spawner (spawner.kind: ssh): one process per server on a remote host, reached through SSH tunnels both ways.' },
);
export type SshSpawnerOptions = Static<typeof SshSpawnerOptions>;
