/**
 * The `shell.loginHosts` config list: hosts (a cluster's login nodes) users may open a web shell
 * on without a running server. Each host is reached like an SSH spawner host: host keys always
 * checked (pinned keys or a known_hosts file; accepting an unknown key is an explicit, logged
 * opt-in), and the same two ways to become the user: the hub's admin key plus a `sudo -u` prefix,
 * or the user's own key from auth_state. One connection per host (and per user with user-key).
 */
import { Type, type Static } from '@sinclair/typebox';

const HOST_KEY = '^(ssh-|ecdsa-|sk-)\\S+ [A-Za-z0-9+/=]+';

export const LoginHost = Type.Object(
  {
    name: Type.String({ pattern: '^[a-z][a-z0-9-]{0,39}$', description: 'Host id in the shell\'s URL (/hub/login-shell/NAME) and the logs: lower case, digits, hyphens.' }),
    label: Type.String({ default: '', description: 'What the link says after "Shell on" ("": the name).' }),
    address: Type.String({ minLength: 1, description: 'Address the hub connects to (IP or DNS name).' }),
    port: Type.Integer({ default: 22, minimum: 1, maximum: 65535 }),
    hostKeys: Type.Array(Type.String({ pattern: HOST_KEY }), {
      default: [],
      description: 'Pinned host public keys ("ssh-ed25519 AAAA…"); when given, knownHostsFile is not read for this host.',
    }),
    knownHostsFile: Type.String({ default: '/etc/ssh/ssh_known_hosts', pattern: '^/', description: 'known_hosts file for this host when hostKeys is empty (hashed entries and [host]:port work).' }),
    acceptUnknownHostKey: Type.Boolean({
      default: false,
      description: 'INSECURE: accept any host key of this host (logged as a warning at every connection). For throw-away test hosts only.',
    }),
    groups: Type.Array(Type.String({ minLength: 1 }), {
      default: [],
      description: 'Only members of at least one of these hub groups get the shell ([]: every user).',
    }),
    login: Type.Union([Type.Literal('admin-sudo'), Type.Literal('user-key')], {
      default: 'admin-sudo',
      description:
        '"admin-sudo": the hub logs in as adminUser with adminKeyFile (one connection for everybody) and runs the login shell through userPrefix; "user-key": it logs in as the user with the private key in auth_state[userKeyAuthStateKey] (one connection per user).',
    }),
    adminUser: Type.String({ default: 'atrium', description: 'admin-sudo: the hub\'s login on the host.' }),
    adminKeyFile: Type.String({ default: '/etc/atrium/ssh/id_ed25519', pattern: '^/', description: 'admin-sudo: private key file of adminUser, readable by the hub only.' }),
    userPrefix: Type.Array(Type.String(), {
      default: ['sudo', '-n', '-H', '-u', '{username}', '--'],
      description: 'admin-sudo: command prefix that runs the shell as the user ({username} is the Unix user), e.g. ["runuser", "-u", "{username}", "--"] when adminUser is root.',
    }),
    userKeyAuthStateKey: Type.String({ default: 'ssh_private_key', description: 'user-key: auth_state key holding the user\'s OpenSSH private key.' }),
    remoteUser: Type.String({ default: '{username}', description: 'Unix user on the host; {username} is the hub user name. The result must be a valid Unix account name or the shell is refused.' }),
    connectTimeoutSeconds: Type.Number({ default: 10, minimum: 1, description: 'TCP + SSH handshake limit.' }),
  },
  { additionalProperties: false, description: 'One login host.' },
);
export type LoginHost = Static<typeof LoginHost>;

export const LoginHosts = Type.Array(LoginHost, {
  default: [],
  description:
    'Login hosts users may open a web shell on (/hub/login-shell/NAME), as their own Unix account, without a running server. Needs shell.enabled. See docs/shell.md.',
});

/** Config cross-check: host names are unique (they are the URL of the shell). */
export function loginHostProblems(root: Record<string, unknown>): { segments: (string | number)[]; message: string }[] {
  const shell = root.shell && typeof root.shell === 'object' ? (root.shell as Record<string, unknown>) : {};
  const hosts = Array.isArray(shell.loginHosts) ? (shell.loginHosts as unknown[]) : [];
  const seen = new Set<string>();
  const out: { segments: (string | number)[]; message: string }[] = [];
  hosts.forEach((h, i) => {
    const name = h && typeof h === 'object' ? (h as { name?: unknown }).name : undefined;
    if (typeof name !== 'string') return;
    if (seen.has(name)) out.push({ segments: ['shell', 'loginHosts', i, 'name'], message: `login host "${name}" is defined twice` });
    seen.add(name);
  });
  return out;
}
