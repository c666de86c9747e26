/**
 * The web shell into a configured login host (shell.loginHosts): no running server needed, the
 * user gets a login shell on the host as their own Unix account. Who may: shells enabled, the
 * `shell` scope on oneself (access.ts), and membership of one of the host's groups when it lists
 * any. How: the host's one shared SSH connection from the shared pool (src/shared/ssh/), with
 * the same host-key rules and the same two logins as the SSH spawner — the hub's admin key plus
 * `sudo -u ACCOUNT` (userPrefix), or the user's own key from auth_state. The account name is the
 * hub name through remoteUser and must pass the Unix account rule before it is put on any
 * command line (and is shell-quoted there anyway).
 */
import type { ClientChannel } from 'ssh2';
import type { HubContext } from '../context.js';
import type { UserRow } from '../db/index.js';
import type { ShellOptions, ShellSession } from '../../spawners/spawner.js';
import type { SshLogin } from '../../shared/ssh/connection-pool.js';
import { channelSession, execWithPty, LOGIN_SCRIPT } from '../../shared/ssh/pty-shell.js';
import type { SshConnectionOptions, SshHost } from '../../shared/ssh/types.js';
import { isValidUnixAccount, userNameProblem } from '../../shared/names.js';
import { groupsResolver } from '../auth/identity.js';
import { readAuthState } from '../auth/auth-state.js';
import { checkScopes } from '../auth/scopes.js';
import { atriumError } from '../errors.js';
import { shellQuote } from '../jobs/script.js';
import type { LoginHost } from './login-host-config.js';
import { SHELL_SCOPE, shellScopes } from './access.js';

export interface LoginHostTarget {
  host: LoginHost;
  /** The Unix account on the host (remoteUser filled in, checked). */
  account: string;
}

/** The host `me` may open a shell on, or a catalogued refusal (the page and the socket both ask). */
export function loginHostTarget(hub: HubContext, me: UserRow, name: string): LoginHostTarget {
  if (!hub.config.shell.enabled) throw atriumError('ATRIUM_ERR_SHELL_DISABLED');
  const host = hub.config.shell.loginHosts.find((h) => h.name === name);
  if (!host) throw atriumError('ATRIUM_ERR_SHELL_LOGIN_HOST_UNKNOWN', `No login host named ${JSON.stringify(name.slice(0, 60))}`);
  if (checkScopes(shellScopes(hub, me), [SHELL_SCOPE], { user: me.name }, groupsResolver(hub)) !== 'ok') {
    throw atriumError('ATRIUM_ERR_AUTH_SCOPE', 'Opening a shell needs the shell scope');
  }
  if (host.groups.length > 0) {
    const mine = hub.stores.groups.groupsOf(me.id);
    if (!host.groups.some((g) => mine.includes(g))) {
      throw atriumError('ATRIUM_ERR_SHELL_LOGIN_HOST_FORBIDDEN', `The login host ${hostLabel(host)} is open to members of ${host.groups.map((g) => `"${g}"`).join(', ')} only`);
    }
  }
  const account = host.remoteUser.replaceAll('{username}', me.name);
  if (userNameProblem(me.name) !== null || !isValidUnixAccount(account)) {
    throw atriumError('ATRIUM_ERR_SHELL_ACCOUNT_NAME', `Your user name cannot be used as an account on ${hostLabel(host)}: "${account.slice(0, 80)}" is not a valid Unix account name`);
  }
  return { host, account };
}

export function hostLabel(host: LoginHost): string {
  return host.label || host.name;
}

/** The login hosts `me` may open a shell on, for the links on the home and My work pages. */
export function openLoginHosts(hub: HubContext, me: UserRow): LoginHost[] {
  if (!hub.config.shell.enabled) return [];
  return hub.config.shell.loginHosts.filter((h) => {
    try {
      loginHostTarget(hub, me, h.name);
      return true;
    } catch {
      return false;
    }
  });
}

function sshHost(h: LoginHost): SshHost {
  return { name: h.name, address: h.address, port: h.port, hostKeys: h.hostKeys, knownHostsFile: h.knownHostsFile, acceptUnknownHostKey: h.acceptUnknownHostKey };
}

function connectionOptions(h: LoginHost): SshConnectionOptions {
  return {
    knownHostsFile: h.knownHostsFile,
    adminUser: h.adminUser,
    adminKeyFile: h.adminKeyFile,
    connectTimeoutSeconds: h.connectTimeoutSeconds,
    keepaliveIntervalSeconds: 10,
    keepaliveCountMax: 3,
    reconnectMaxBackoffSeconds: 30,
    userIdleCloseSeconds: 30,
  };
}

/** Open the shell; refusals and failures are catalogued errors with a message for the page. */
export async function openLoginHostShell(hub: HubContext, me: UserRow, t: LoginHostTarget, opts: ShellOptions): Promise<ShellSession> {
  const { host, account } = t;
  // ssh2 loads at the first login-host shell, not at hub start (start-footprint test).
  const [{ adminLogin, connectionFor }, { userLoginFrom }] = await Promise.all([
    import('../../shared/ssh/connection-pool.js'),
    import('../../shared/ssh/user-key.js'),
  ]);
  const log = hub.log.child({ component: 'shell', loginHost: host.name });
  let login: SshLogin;
  let prefix: string[] = [];
  const options = connectionOptions(host);
  if (host.login === 'user-key') {
    const got = userLoginFrom(readAuthState(hub, me), host.userKeyAuthStateKey, account);
    if ('error' in got) throw atriumError('ATRIUM_ERR_SHELL_FAILED', `Cannot log in to ${hostLabel(host)}: ${got.error}`);
    login = got.login;
  } else {
    login = adminLogin(options);
    prefix = host.userPrefix.map((w) => w.replaceAll('{username}', account));
  }
  const conn = connectionFor(sshHost(host), options, log, login);
  let ch: ClientChannel;
  try {
    ch = await execWithPty(conn, [...prefix, '/bin/sh', '-c', LOGIN_SCRIPT].map(shellQuote).join(' '), opts);
  } catch (err) {
    const e = err as Error & { hostKeyRefused?: boolean };
    if (e.hostKeyRefused) throw atriumError('ATRIUM_ERR_SHELL_HOST_KEY', `The key of ${hostLabel(host)} does not match the configured one, so no shell was opened (an admin must check the host)`, { detail: e.message });
    throw atriumError('ATRIUM_ERR_SHELL_FAILED', `The shell on ${hostLabel(host)} could not be started`, { detail: e.message });
  }
  return channelSession(ch, `login host ${host.name} as ${account}`);
}
