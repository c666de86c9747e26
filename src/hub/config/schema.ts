/**
 * The one configuration schema: TypeScript types, JSON Schema validation and docs/config.md all
 * come from here. Conventions:
 * - a key with a `default` is filled in by the loader, so its type is not optional;
 * - units live in key names (`...Seconds`, `...Bytes`) or in strings parsed by units.ts;
 * - every object rejects unknown keys (the loader turns that into a did-you-mean).
 * Kinds own their option blocks and are named in one list per extension point
 * (src/spawners/kinds.ts, src/authenticators/kinds.ts, src/hooks/kinds.ts); this file composes
 * the `kind` unions, the per-kind blocks and the hooks[] entries from those lists.
 */
import { Type, type Static, type TLiteral, type TNumber, type TObject, type TSchema, type TString, type TUnion } from '@sinclair/typebox';
import { authenticatorKinds } from '../../authenticators/kinds.js';
import { hookKinds } from '../../hooks/kinds.js';
import { spawnerKinds } from '../../spawners/kinds.js';
import { JobsSection } from '../jobs/config.js';
import { ImagesSection, StaffSection } from '../images/config.js';
import { LoginHosts } from '../shell/login-host-config.js';

const Obj = <T extends Record<string, TSchema>>(props: T, description: string, extra: object = {}) =>
  Type.Object(props, { additionalProperties: false, description, default: {}, ...extra });

type Named = { readonly name: string; readonly optionsSchema: TSchema };
type Literals<L extends readonly Named[]> = { -readonly [K in keyof L]: TLiteral<L[K]['name']> };
type KindUnion<L extends readonly Named[]> = Literals<L> extends infer T extends TSchema[] ? TUnion<T> : never;
type KindBlocks<L extends readonly Named[]> = { [D in L[number] as D['name']]: D['optionsSchema'] };

/** `kind: one of <the list>`, defaulting to the list's default. */
function kindUnion<L extends readonly Named[]>(list: { default: string; kinds: L }, description: string): KindUnion<L> {
  return Type.Union(list.kinds.map((d) => Type.Literal(d.name)), { default: list.default, description }) as unknown as KindUnion<L>;
}

/** One options block per kind, keyed by the kind's name, in list order. */
function kindBlocks<L extends readonly Named[]>(list: { kinds: L }): KindBlocks<L> {
  return Object.fromEntries(list.kinds.map((d) => [d.name, d.optionsSchema])) as KindBlocks<L>;
}

const StringList = (description: string) => Type.Array(Type.String(), { default: [], description });

export const HubSection = Obj(
  {
    ip: Type.String({ default: '127.0.0.1', description: 'Address the hub listens on (the proxy forwards /hub/ here).' }),
    port: Type.Integer({ default: 8081, minimum: 0, maximum: 65535, description: 'Hub port; 0 picks a free one.' }),
    baseUrl: Type.String({
      default: '/',
      pattern: '^/(.*/)?$',
      description: 'URL prefix of the whole deployment; starts and ends with "/".',
    }),
    publicUrl: Type.Optional(
      Type.String({
        format: 'uri',
        description: 'Public URL users see (https://notebooks.example.edu/). Sets Secure cookies when https.',
      }),
    ),
    connectUrl: Type.Optional(
      Type.String({
        description:
          'URL single-user servers use to reach the hub API (default http://<ip>:<port>). Set when servers run on other hosts.',
      }),
    ),
    stateDir: Type.String({
      default: './.atrium-state',
      description: 'Directory for the SQLite database, generated secrets (0600) and per-server logs.',
    }),
    cookieMaxAgeSeconds: Type.Integer({ default: 14 * 86400, minimum: 60, description: 'Login session lifetime.' }),
    oauthTokenExpiresSeconds: Type.Integer({
      default: 14 * 86400,
      minimum: 60,
      description: 'Lifetime of OAuth tokens issued to browsers for single-user servers.',
    }),
    trustedProxies: Type.Array(Type.String(), {
      default: [],
      description:
        'Addresses (CIDRs) of a proxy in front of the hub that cannot send the proxy proof (e.g. configurable-http-proxy). The hub takes the last X-Forwarded-For entry such a proxy appended as the client address, one hop only. atrium-proxy needs no entry: it proves itself with the proxy proof (ATRIUM_PROXY_PROOF). Loopback is not trusted by itself. Do not list a portal here: header authenticators check the portal in their own trustedProxies.',
    }),
    maxBodyBytes: Type.Integer({ default: 1048576, minimum: 1024, description: 'Largest request body the hub accepts.' }),
  },
  'The hub process.',
);

export const ProxySection = Obj(
  {
    external: Type.Boolean({
      default: false,
      description:
        'false: the hub starts atrium-proxy as a child process. true: a proxy (atrium-proxy or configurable-http-proxy) is run separately; the hub only uses its API.',
    }),
    ip: Type.String({ default: '127.0.0.1', description: 'Public address of the proxy (child proxy only).' }),
    port: Type.Integer({ default: 8000, minimum: 0, maximum: 65535, description: 'Public port of the proxy.' }),
    apiUrl: Type.String({ default: 'http://127.0.0.1:8001', description: 'The proxy REST API (CHP-compatible).' }),
    authToken: Type.Optional(
      Type.String({
        description:
          'Token for the proxy API (CONFIGPROXY_AUTH_TOKEN). Required when external; generated and stored in stateDir otherwise.',
      }),
    ),
    command: Type.Array(Type.String(), {
      default: [],
      description: 'Command to start the child proxy; empty = the bundled atrium-proxy.',
    }),
    checkRoutesIntervalSeconds: Type.Integer({
      default: 300,
      minimum: 5,
      description: 'How often routes are reconciled with the database (also done at start and after a proxy restart).',
    }),
    checkRunningIntervalSeconds: Type.Integer({
      default: 5,
      minimum: 1,
      description: 'How often a child proxy is checked; it is restarted and its routes restored when it died.',
    }),
  },
  'The configurable HTTP proxy in front of the hub and the single-user servers.',
);

export const AuthenticatorSection = Obj(
  {
    kind: kindUnion(authenticatorKinds, 'Which authenticator logs users in; its block below configures it.'),
    ...kindBlocks(authenticatorKinds),
    allowedUsers: StringList('If non-empty, only these users (after normalisation) may log in; existing users stay allowed.'),
    blockedUsers: StringList('These users may never log in.'),
    adminUsers: StringList('These users are made admins at every start and login.'),
    allowedGroups: StringList('If non-empty, members of these groups (from the authenticator) may log in as well.'),
    adminGroups: StringList('Members of these groups (from the authenticator) are admins.'),
    allowAll: Type.Boolean({
      default: true,
      description: 'When allowedUsers and allowedGroups are both empty: true lets every authenticated user in.',
    }),
    usernamePattern: Type.String({
      default: '^[a-z0-9][a-z0-9._@-]{0,62}$',
      description: 'Regular expression a normalised user name must match (checked after lowercasing and usernameMap).',
    }),
    usernameMap: Type.Record(Type.String(), Type.String(), {
      default: {},
      description: 'Rename users at login: {"Alice@EXAMPLE.org": "alice"}.',
    }),
    manageGroups: Type.Boolean({
      default: false,
      description: 'Take group membership from the authenticator at every login (the group API is then read-only).',
    }),
    autoLogin: Type.Boolean({
      default: false,
      description: 'Skip the login page: request-mode authenticators (header) log the user in on first visit.',
    }),
  },
  'How users log in.',
);

export const SpawnerSection = Obj(
  {
    kind: kindUnion(spawnerKinds, 'Which spawner starts single-user servers; its block below configures it.'),
    ...kindBlocks(spawnerKinds),
    environment: Type.Record(Type.String(), Type.String(), {
      default: {},
      description:
        'Extra environment for every server; overrides the JupyterHub variables. {username} and {servername} are filled in.',
    }),
    defaultUrl: Type.Optional(Type.String({ description: 'JUPYTERHUB_DEFAULT_URL, e.g. /lab or /tree.' })),
    notebookDir: Type.Optional(Type.String({ description: 'JUPYTERHUB_ROOT_DIR; {username} is filled in.' })),
    startTimeoutSeconds: Type.Integer({ default: 120, minimum: 1, description: 'Time for the spawner to report where the server listens.' }),
    httpTimeoutSeconds: Type.Integer({ default: 60, minimum: 1, description: 'Time for the started server to answer HTTP.' }),
    pollIntervalSeconds: Type.Integer({ default: 30, minimum: 0, description: 'How often running servers are polled (jittered); 0 disables.' }),
    concurrentSpawnLimit: Type.Integer({ default: 100, minimum: 0, description: 'Spawns pending at once before new ones get 429 (0 = no limit).' }),
    activeServerLimit: Type.Integer({ default: 0, minimum: 0, description: 'Running plus pending servers before new spawns get 429 (0 = no limit).' }),
    startQueue: Obj(
      {
        enabled: Type.Boolean({ default: true, description: 'Admit server starts a few at a time, first come first served; the rest wait in a queue and see their place on the pending page.' }),
        slots: Type.Integer({
          default: 0,
          minimum: 0,
          description:
            'Starts running at once. 0 = automatic: the number of CPU cores when servers run on the hub machine (local spawner), no limit for remote backends (or use perNode for Swarm). Browser users always queue; API clients get 429 + Retry-After beyond concurrentSpawnLimit pending spawns.',
        }),
        // Per-node admission (issue 15 item 2, decision 0024).
        perNode: Type.Integer({
          default: 0,
          minimum: 0,
          description:
            'Starts running at once on each backend node, for spawner kinds that place servers on nodes (Swarm): the hub lists the nodes that can take a server (active, ready, matching the placement constraints), admits a start onto the least busy node with room and pins the server there. 0 = off (admission for the whole backend by slots only). With slots > 0 as well, both limits hold.',
        }),
        nodeRefreshSeconds: Type.Integer({
          default: 30,
          minimum: 5,
          description: 'How often the node list for perNode is read again from the backend (nodes joining, drained or down).',
        }),
      },
      'The start queue (admission control for a class starting at once).',
    ),
    namedServers: Obj(
      {
        enabled: Type.Boolean({ default: false, description: 'Allow users to run named servers besides the default one.' }),
        limitPerUser: Type.Integer({ default: 0, minimum: 0, description: 'Named servers per user (0 = no limit). Every named server the user has counts, running or stopped, as in JupyterHub; users delete one on the home page to make room.' }),
      },
      'Named servers (/user/NAME/SERVER/).',
    ),
    slowSpawnTimeoutSeconds: Type.Number({
      default: 10,
      minimum: 0,
      description: 'The start API answers 201 if the spawn finished within this time, else 202.',
    }),
  },
  'How single-user servers are started.',
);

// The built-in idle culler (issue 10 item 7; src/hub/culler/).
export const CullerSection = Obj(
  {
    enabled: Type.Boolean({ default: false, description: 'Stop servers that have been idle longer than timeoutSeconds (off by default).' }),
    timeoutSeconds: Type.Integer({ default: 3600, minimum: 1, description: 'A server with no activity for this long is stopped. Activity comes from the single-user server\'s reports, the proxy, and the server\'s own /api/status; a busy kernel or an open kernel connection counts as activity now.' }),
    intervalSeconds: Type.Integer({ default: 300, minimum: 1, description: 'How often servers are checked (jupyterhub-idle-culler checks every timeout/2; a shorter interval costs one proxy read and a database scan).' }),
    maxAgeSeconds: Type.Integer({ default: 0, minimum: 0, description: 'Stop any server older than this, busy or not (0 = no limit).' }),
    removeNamedServers: Type.Boolean({ default: false, description: 'Delete a culled named server (as DELETE with remove=true), not only stop it.' }),
    cullUsers: Type.Boolean({ default: false, description: 'Delete users who have no server running and no activity for timeoutSeconds (their files are not touched; they can log in again).' }),
    cullAdminUsers: Type.Boolean({ default: false, description: 'Cull admins\' servers (and, with cullUsers, admins) too.' }),
    inspectKernels: Type.Boolean({ default: true, description: 'Ask each server\'s /api/kernels and /api/status with a short-lived hub-issued token scoped to that server, so a long computation with no browser open is not culled.' }),
    concurrency: Type.Integer({ default: 10, minimum: 1, maximum: 100, description: 'Servers inspected or stopped at once.' }),
  },
  'The built-in idle culler (like jupyterhub-idle-culler, which keeps working against the REST API too).',
);

// JupyterHub services (issue 10 item 8; src/hub/services/).
export const ServiceEntry = Type.Object(
  {
    name: Type.String({ description: 'Service name: 1 to 30 characters, lowercase letters, digits and single hyphens (the server-name rule). Served at /services/NAME/.' }),
    url: Type.Optional(Type.String({ format: 'uri', description: 'Where the service listens (http://127.0.0.1:PORT). With a url, the proxy routes /services/NAME/ there and the service may log users in with OAuth.' })),
    apiToken: Type.Optional(Type.String({ minLength: 16, description: 'The service\'s API token (use ${ENV_VAR}); kept only as a hash. Without one, a managed service gets a fresh token at each start.' })),
    scopes: StringList('Scopes the service\'s token holds, e.g. ["list:users", "read:users:activity", "admin:servers", "delete:users"] for an idle culler.'),
    roles: StringList('Default roles whose scopes the service holds besides `scopes`: "admin" or "user".'),
    command: StringList('Command the hub runs and keeps running (restarted with back-off, stopped with the hub). Empty = an external service.'),
    environment: Type.Record(Type.String(), Type.String(), { default: {}, description: 'Extra environment for the command (on top of the JUPYTERHUB_* variables).' }),
    cwd: Type.Optional(Type.String({ description: 'Working directory of the command.' })),
    oauthNoConfirm: Type.Boolean({ default: false, description: 'Skip the "Authorize access" page when a user logs in to the service.' }),
    oauthClientId: Type.Optional(Type.String({ description: 'OAuth client id (default service-NAME).' })),
    oauthRedirectUri: Type.Optional(Type.String({ description: 'OAuth redirect URI (default /services/NAME/oauth_callback under the base URL).' })),
    accessUsers: StringList('Users who may log in to the service with OAuth (admins always may).'),
    accessGroups: StringList('Groups whose members may log in to the service with OAuth.'),
    accessAllUsers: Type.Boolean({ default: false, description: 'Every user may log in to the service with OAuth.' }),
    display: Type.Boolean({ default: true, description: 'Listed in the services API model (display flag).' }),
    info: Type.Record(Type.String(), Type.String(), { default: {}, description: 'Free-form information shown in the service model.' }),
  },
  { additionalProperties: false, description: 'One service.' },
);

export const ServicesSection = Type.Array(ServiceEntry, {
  default: [],
  description: 'JupyterHub services: programs with their own API token, optionally routed at /services/NAME/ and run by the hub.',
});

/** The web shell (src/hub/shell/): a terminal in the browser into the user's running server. */
export const ShellSection = Obj(
  {
    enabled: Type.Boolean({
      default: false,
      description: 'Offer a terminal in the browser (/hub/shell/USER[/SERVER]) into running servers (local, swarm, slurm and ssh spawners).',
    }),
    idleTimeoutSeconds: Type.Integer({
      default: 900,
      minimum: 0,
      description: 'Close a shell after this long without a keystroke from the browser (0 = never).',
    }),
    maxSessionsPerUser: Type.Integer({
      default: 4,
      minimum: 1,
      description: 'Open shells per user at once (counted for the user who opens them); one more is refused with 429.',
    }),
    adminsOpenAnyServer: Type.Boolean({
      default: false,
      description: "Admins may open shells into other users' servers. Off: a shell is only ever opened into one's own servers.",
    }),
    loginHosts: LoginHosts,
  },
  'Web shell: xterm.js over a websocket, authorised by the hub session and the shell scope.',
);

/** The keys every hooks[] entry has; its options block (e.g. ldapAccount) comes on top. */
type HookEntryBase = TObject<{ kind: TString; timeoutSeconds: TNumber }>;

export const HookEntry = Type.Union(
  hookKinds.kinds.map((d) =>
    Type.Object(
      {
        kind: Type.Literal(d.name),
        timeoutSeconds: Type.Number({ default: 30, minimum: 0.1, description: 'Time the hook may take.' }),
        [d.optionsKey]: d.optionsSchema,
      },
      { additionalProperties: false, description: d.description },
    ),
  ),
  { description: 'One hook.' },
) as unknown as TUnion<HookEntryBase[]>;

export const AtriumConfigSchema = Type.Object(
  {
    hub: HubSection,
    proxy: ProxySection,
    authenticator: AuthenticatorSection,
    spawner: SpawnerSection,
    hooks: Type.Array(HookEntry, {
      default: [],
      description: 'Pre-spawn / post-stop hooks, run in this order. A failing pre-spawn hook aborts the spawn.',
    }),
    jobs: JobsSection,
    logLevel: Type.Union(
      [Type.Literal('debug'), Type.Literal('info'), Type.Literal('warn'), Type.Literal('error')],
      { default: 'info', description: 'pino log level for hub and proxy.' },
    ),
    culler: CullerSection,
    services: ServicesSection,
    shell: ShellSection,
    metrics: Obj(
      {
        authenticate: Type.Boolean({ default: true, description: '/hub/metrics needs a token with read:metrics.' }),
      },
      'Prometheus metrics at /hub/metrics.',
    ),
    // Teaching staff (issue 13): image preloading, environment catalogue, staff role, warm servers.
    images: ImagesSection,
    staff: StaffSection,
  },
  { additionalProperties: false, description: 'atrium.yaml' },
);

export type AtriumConfig = Static<typeof AtriumConfigSchema>;
export type HookConfig = Static<typeof HookEntry>;
