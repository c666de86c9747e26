/**
 * The web shell page, /hub/shell/<user>[/<server>], and the browser files it needs, served from
 * node_modules by the hub (no CDN): xterm.js, its fit addon, and client.ts. The terminal talks to
 * socket.ts; the page carries the XSRF token the socket checks.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { xsrfToken } from '../auth/session.js';
import type { UserRow } from '../db/index.js';
import { atriumError } from '../errors.js';
import { escapePath } from '../spawn/env.js';
import { renderThrown } from '../pages/error-page.js';
import { esc, renderPage } from '../pages/layout.js';
import { pageUser, redirectToLogin } from '../pages/login.js';
import { shellTarget } from './access.js';
import { SHELL_CLIENT_JS } from './client.js';
import { hostLabel, loginHostTarget } from './login-host.js';
import { attachShellSocket, loginSocketPath, socketPath } from './socket.js';

const require = createRequire(import.meta.url);

/** Read once, on first use: a hub that never serves a shell never touches these files. */
const cache = new Map<string, string>();
function asset(name: 'xterm.js' | 'addon-fit.js' | 'xterm.css'): string {
  let text = cache.get(name);
  if (text === undefined) {
    const xterm = require.resolve('@xterm/xterm');
    const file = name === 'xterm.js' ? xterm : name === 'xterm.css' ? join(dirname(xterm), '..', 'css', 'xterm.css') : require.resolve('@xterm/addon-fit');
    // The source map comment would only make the browser ask for a file we do not serve.
    text = readFileSync(file, 'utf8').replace(/\n\/\/# sourceMappingURL=\S+\s*$/, '\n');
    cache.set(name, text);
  }
  return text;
}

const SCRIPTS: Record<string, () => string> = {
  'xterm.js': () => asset('xterm.js'),
  'addon-fit.js': () => asset('addon-fit.js'),
  'shell.js': () => SHELL_CLIENT_JS,
};

/** JSON inside a <script> element: '<' escaped so no value can close the element. */
function scriptJson(v: unknown): string {
  return JSON.stringify(v).replace(/</g, '\\u003c');
}

export async function shellPages(app: FastifyInstance): Promise<void> {
  const hub = app.hub;
  attachShellSocket(app);

  app.get('/shell-assets/:name', async (req, reply) => {
    if (!hub.config.shell.enabled) throw atriumError('ATRIUM_ERR_SHELL_DISABLED');
    const { name } = req.params as { name: string };
    const get = Object.hasOwn(SCRIPTS, name) ? SCRIPTS[name] : undefined;
    if (!get) throw atriumError('ATRIUM_ERR_HTTP_NOT_FOUND', `No shell asset ${name.slice(0, 100)}`);
    return reply.type('text/javascript; charset=utf-8').header('Cache-Control', 'private, max-age=3600').send(get());
  });

  const page = async (req: FastifyRequest, reply: FastifyReply) => {
    const me = await pageUser(hub, req, reply);
    if (!me) return redirectToLogin(hub, req, reply);
    const { user, server = '' } = req.params as { user: string; server?: string };
    try {
      shellTarget(hub, me, user, server);
    } catch (err) {
      return renderThrown(hub, reply, err, me);
    }
    return terminalPage(req, reply, me, `Shell: ${server ? `${user}/${server}` : user}`, {
      socket: `${socketPath(hub)}${escapePath(user)}${server ? `/${escapePath(server)}` : ''}`,
      label: server ? `${user}'s server ${server}` : `${user}'s server`,
    });
  };

  /** A login host's shell (shell.loginHosts): the same terminal, another socket. */
  const loginPage = async (req: FastifyRequest, reply: FastifyReply) => {
    const me = await pageUser(hub, req, reply);
    if (!me) return redirectToLogin(hub, req, reply);
    const { host } = req.params as { host: string };
    let label: string;
    try {
      label = hostLabel(loginHostTarget(hub, me, host).host);
    } catch (err) {
      return renderThrown(hub, reply, err, me);
    }
    return terminalPage(req, reply, me, `Shell on ${label}`, { socket: `${loginSocketPath(hub)}${escapePath(host)}`, label });
  };

  const terminalPage = (req: FastifyRequest, reply: FastifyReply, me: UserRow, title: string, target: { socket: string; label: string }) => {
    const cfg = { ...target, xsrf: xsrfToken(hub, req, reply) };
    const h = esc(hub.urls.hub);
    reply.header('Cache-Control', 'no-store');
    return renderPage(hub, reply, title, `<style>${asset('xterm.css')}
      main { max-width: none; } #terminal { height: calc(100vh - 11rem); min-height: 16rem; background: #000; padding: 4px; border-radius: 6px; }</style>
      <div class="card"><h1>${esc(title)}</h1>
      <p id="shell-status" class="muted" role="status" aria-live="polite">Loading…</p>
      <div id="terminal"></div></div>
      <script type="application/json" id="shell-config">${scriptJson(cfg)}</script>
      <script src="${h}shell-assets/xterm.js"></script>
      <script src="${h}shell-assets/addon-fit.js"></script>
      <script src="${h}shell-assets/shell.js"></script>`, me);
  };
  app.get('/shell/:user', page);
  app.get('/shell/:user/:server', page);
  app.get('/login-shell/:host', loginPage);
}
