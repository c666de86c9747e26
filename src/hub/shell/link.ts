/**
 * The "Shell" link beside a running server on the home and My work pages. It is shown exactly
 * when the shell page would open: the same checks as the page and the socket (shell enabled, the
 * `shell` scope on that server, running, a spawner with a shell), so no link leads to a refusal.
 */
import type { HubContext } from '../context.js';
import type { UserRow } from '../db/index.js';
import { escapePath } from '../spawn/env.js';
import { esc } from '../pages/layout.js';
import { shellTarget } from './access.js';
import { hostLabel, openLoginHosts } from './login-host.js';

export function shellLink(hub: HubContext, me: UserRow, owner: string, server: string): string {
  if (!hub.config.shell.enabled) return '';
  try {
    shellTarget(hub, me, owner, server);
  } catch {
    return '';
  }
  const href = `${hub.urls.hub}shell/${escapePath(owner)}${server ? '/' + escapePath(server) : ''}`;
  return `<a class="button" data-shell="${esc(server)}" href="${esc(href)}">Shell</a>`;
}

/**
 * "Shell on <host>" links for the login hosts `me` may open a shell on (shell.loginHosts), as a
 * card for the home and My work pages; empty when there is none, so nothing shows by default.
 */
export function loginHostLinks(hub: HubContext, me: UserRow): string {
  const hosts = openLoginHosts(hub, me);
  if (hosts.length === 0) return '';
  const links = hosts
    .map((host) => `<a class="button" data-login-shell="${esc(host.name)}" href="${esc(`${hub.urls.hub}login-shell/${escapePath(host.name)}`)}">Shell on ${esc(hostLabel(host))}</a>`)
    .join(' ');
  return `<div class="card"><h2>Login hosts</h2><p>${links}</p></div>`;
}
