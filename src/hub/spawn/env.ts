/**
 * The JupyterHub environment contract for a single-user server (contracts §1.2). The spawner adds
 * JUPYTERHUB_SERVICE_URL itself once it knows where the server listens.
 */
import type { AtriumConfig } from '../config/schema.js';
import type { HubUrls } from '../urls.js';
import { fillNames } from '../../shared/name-template.js';
import { wellFormed } from '../../shared/url-text.js';

/**
 * Python's urllib.parse.quote(v, safe='@~'), used for names in URLs, except that a name made
 * only of dots is encoded too: quote('..') is '..', which every browser and proxy resolves as a
 * dot segment (old database rows may still hold such names).
 */
export function escapePath(v: string): string {
  const text = wellFormed(v);
  if (/^\.+$/.test(text)) return text.replace(/\./g, '%2E');
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase()).replace(/%40/g, '@');
}

export function serverPrefix(hub: { urls: Pick<HubUrls, 'base'> }, user: string, server: string): string {
  return `${hub.urls.base}user/${escapePath(user)}/${server ? escapePath(server) + '/' : ''}`;
}

/**
 * The OAuth client id of a server, also the name of the singleuser's token cookie. The default
 * server keeps JupyterHub's exact id, `jupyterhub-user-<quoted user>`. A named server appends
 * `:<server>`: ':' never appears in a quoted user name (quote encodes it) nor in a server name,
 * so no (user, server) pair shares an id with another (JupyterHub's '-' separator made user
 * 'colla-x' and server 'x' of user 'colla' collide). ':' is legal in a cookie name for Python's
 * http.cookies (tornado) and for browsers.
 */
export function oauthClientId(user: string, server: string): string {
  const q = (s: string) => encodeURIComponent(wellFormed(s)).replace(/%2F/g, '/');
  return `jupyterhub-user-${q(user)}${server ? ':' + q(server) : ''}`;
}

export function accessScopes(user: string, server: string): string[] {
  return [`access:servers!server=${user}/${server}`, `access:servers!user=${user}`];
}

export function buildEnv(hub: { urls: HubUrls; config: { spawner: Pick<AtriumConfig['spawner'], 'defaultUrl' | 'notebookDir' | 'environment'> } }, args: { user: string; server: string; apiToken: string }): Record<string, string> {
  const { user, server, apiToken } = args;
  const prefix = serverPrefix(hub, user, server);
  const scopes = JSON.stringify(accessScopes(user, server));
  const sp = hub.config.spawner;
  const env: Record<string, string> = {
    JUPYTERHUB_API_TOKEN: apiToken,
    JPY_API_TOKEN: apiToken,
    JUPYTERHUB_CLIENT_ID: oauthClientId(user, server),
    JUPYTERHUB_HOST: '',
    JUPYTERHUB_OAUTH_CALLBACK_URL: `${prefix}oauth_callback`,
    JUPYTERHUB_OAUTH_SCOPES: scopes,
    JUPYTERHUB_OAUTH_ACCESS_SCOPES: scopes,
    JUPYTERHUB_OAUTH_CLIENT_ALLOWED_SCOPES: '[]',
    JUPYTERHUB_USER: user,
    JUPYTERHUB_SERVER_NAME: server,
    JUPYTERHUB_API_URL: hub.urls.apiForServers,
    JUPYTERHUB_ACTIVITY_URL: `${hub.urls.apiForServers}/users/${escapePath(user)}/activity`,
    JUPYTERHUB_BASE_URL: hub.urls.base,
    JUPYTERHUB_SERVICE_PREFIX: prefix,
  };
  if (sp.defaultUrl) env.JUPYTERHUB_DEFAULT_URL = sp.defaultUrl;
  if (sp.notebookDir) env.JUPYTERHUB_ROOT_DIR = fillNames(sp.notebookDir, { username: user, servername: server });
  for (const [k, v] of Object.entries(sp.environment)) env[k] = fillNames(v, { username: user, servername: server });
  return env;
}
