/**
 * The shell's websocket endpoint, `<hub>shell-socket/<user>[/<server>]?_xsrf=…&cols=…&rows=…`.
 * fastify does not route upgrades, so this listens to the HTTP server's `upgrade` event and
 * answers only its own path. Every check happens before the upgrade, so a refusal is a plain HTTP
 * answer (JSON, catalogued code) the browser's console and `curl` both show:
 *
 * 1. shell.enabled (404), 2. Origin is the hub's public origin or the request's own Host (403):
 *    a page on another site cannot drive a shell with the user's cookie (websockets are not
 *    covered by SameSite=Lax nor by CORS), 3. the hub login cookie (403), 4. the XSRF token of
 *    that session from the page, compared in constant time (403), 5. the shell scope on that
 *    server and a running server with a shell (403/404/409), 6. the per-user limit (429).
 */
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { RawData, WebSocketServer } from 'ws';
import type { HubContext } from '../context.js';
import type { UserRow } from '../db/index.js';
import { sessionFromCookie } from '../auth/identity.js';
import { checkXsrf } from '../auth/session.js';
import { clientAddress } from '../auth/client-address.js';
import { atriumError, hasCode, isAtriumError, type AtriumError } from '../errors.js';
import { classifyError, logClassified } from '../error-classify.js';
import type { ShellOptions, ShellSession } from '../../spawners/spawner.js';
import { shellTarget } from './access.js';
import { CLOSE_FAILED, CLOSE_HUB, ShellBridge, clampSize, stillRunning, type BridgeArgs } from './bridge.js';
import { loginHostTarget, openLoginHostShell } from './login-host.js';

const OPEN_TIMEOUT_MS = 30_000;

export function socketPath(hub: HubContext): string {
  return `${hub.urls.hub}shell-socket/`;
}

/** `<hub>login-shell-socket/<host>`: the same checks, then a login host instead of a server. */
export function loginSocketPath(hub: HubContext): string {
  return `${hub.urls.hub}login-shell-socket/`;
}

/** The parts of a request the session and XSRF helpers read, from a raw upgrade request. */
function requestLike(app: FastifyInstance, req: IncomingMessage): FastifyRequest {
  const cookies = req.headers.cookie ? app.parseCookie(req.headers.cookie) : {};
  return { headers: req.headers, cookies, socket: req.socket, url: req.url } as unknown as FastifyRequest;
}

export function originAllowed(hub: HubContext, req: IncomingMessage): boolean {
  const raw = req.headers.origin;
  if (typeof raw !== 'string' || raw === 'null') return false;
  let origin: URL;
  try {
    origin = new URL(raw);
  } catch {
    return false;
  }
  if (origin.protocol !== 'http:' && origin.protocol !== 'https:') return false;
  const pub = hub.config.hub.publicUrl;
  if (pub && new URL(pub).origin === origin.origin) return true;
  const host = req.headers.host;
  return typeof host === 'string' && origin.host === host.toLowerCase();
}

function refuse(socket: Duplex, err: AtriumError): void {
  const body = JSON.stringify({ status: err.statusCode, message: err.message });
  const extra = Object.entries(err.headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  socket.end(
    `HTTP/1.1 ${err.statusCode} ${STATUS_CODES[err.statusCode] ?? 'Error'}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n${extra}\r\n${body}`,
  );
}

/** `<user>` or `<user>/<server>` after the socket prefix, percent-decoded; null when malformed. */
function targetOf(path: string): { user: string; server: string } | null {
  const parts = path.split('/');
  if (parts.length > 2 || parts[0] === '') return null;
  try {
    const [user, server = ''] = parts.map((p) => decodeURIComponent(p));
    return user ? { user, server } : null;
  } catch {
    return null;
  }
}

export function attachShellSocket(app: FastifyInstance): void {
  const hub = app.hub;
  const log = hub.log.child({ component: 'shell' });
  // ws is loaded once somebody opens a shell, not at every hub start (decision 0029).
  let wss: Promise<WebSocketServer> | undefined;
  const server = () => (wss ??= import('ws').then((ws) => new ws.WebSocketServer({ noServer: true, maxPayload: 256 * 1024 })));
  const open = new Map<string, Set<ShellBridge>>();
  const prefix = socketPath(hub);
  const loginPrefix = loginSocketPath(hub);

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://hub.invalid');
    const isLogin = url.pathname.startsWith(loginPrefix);
    if (!isLogin && !url.pathname.startsWith(prefix)) {
      // Nobody else listens for upgrades on the hub: answer instead of leaving the socket hanging.
      if (app.server.listenerCount('upgrade') === 1) refuse(socket, atriumError('ATRIUM_ERR_HTTP_NOT_FOUND'));
      return;
    }
    socket.on('error', () => socket.destroy());
    let me: UserRow | null = null;
    try {
      if (!hub.config.shell.enabled) throw atriumError('ATRIUM_ERR_SHELL_DISABLED');
      const target = targetOf(url.pathname.slice((isLogin ? loginPrefix : prefix).length).replace(/\/$/, ''));
      if (!target || (isLogin && target.server !== '')) throw atriumError('ATRIUM_ERR_HTTP_NOT_FOUND');
      if (!originAllowed(hub, req)) throw atriumError('ATRIUM_ERR_SHELL_ORIGIN', undefined, { detail: `Origin ${String(req.headers.origin).slice(0, 200)}, Host ${String(req.headers.host).slice(0, 200)}` });
      const fake = requestLike(app, req);
      me = sessionFromCookie(hub, fake)?.user ?? null;
      if (!me) throw atriumError('ATRIUM_ERR_AUTH_FORBIDDEN', 'Log in to the hub to open a shell');
      checkXsrf(hub, fake, url.searchParams.get('_xsrf') ?? '');
      const cols = clampSize(url.searchParams.get('cols'), 80);
      const rows = clampSize(url.searchParams.get('rows'), 24);
      if (cols === null || rows === null) throw atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', 'cols and rows must be whole numbers from 1 to 1000');
      const opener = isLogin ? loginHostOpener(me, target.user) : serverOpener(me, target.user, target.server);
      const mine = open.get(me.name) ?? new Set<ShellBridge>();
      if (mine.size >= hub.config.shell.maxSessionsPerUser) throw atriumError('ATRIUM_ERR_SHELL_LIMIT');
      const user = me.name;
      const who = { user, ...opener.who, peer: clientAddress(hub, fake) };
      // Reserve the slot now: two sockets racing must not both pass the limit.
      const slot = {} as ShellBridge;
      mine.add(slot);
      open.set(user, mine);
      const release = (b: ShellBridge) => {
        mine.delete(b);
        if (mine.size === 0 && open.get(user) === mine) open.delete(user);
      };
      // A handshake ws refuses (a bad Sec-WebSocket-Key) never reaches the callback below.
      socket.once('close', () => release(slot));
      const upgrade = (server: WebSocketServer) => server.handleUpgrade(req, socket, head, (ws) => {
        const abort = new AbortController();
        ws.once('close', () => abort.abort());
        // Keystrokes that arrive while the backend opens the shell (docker exec takes a moment)
        // are kept and replayed to the bridge, not dropped.
        const early: [RawData, boolean][] = [];
        const keep = (data: RawData, isBinary: boolean) => {
          if (early.length < 256) early.push([data, isBinary]);
        };
        ws.on('message', keep);
        const timer = setTimeout(() => {
          abort.abort();
          log.warn({ event: 'shell-timeout', ...who }, 'web shell did not open in time');
          if (ws.readyState === ws.OPEN) {
            ws.send(JSON.stringify({ type: 'error', message: 'The shell did not start in time' }));
            ws.close(CLOSE_FAILED, 'The shell did not start in time');
          }
        }, OPEN_TIMEOUT_MS);
        opener
          .open({ cols, rows, signal: abort.signal })
          .then((session) => {
            clearTimeout(timer);
            release(slot);
            if (abort.signal.aborted) {
              session.close();
              return;
            }
            ws.off('message', keep);
            const bridge: ShellBridge = new ShellBridge({
              ws,
              session,
              log,
              who,
              idleTimeoutSeconds: hub.config.shell.idleTimeoutSeconds,
              serverStillRunning: opener.stillThere,
              onClosed: () => release(bridge),
            });
            mine.add(bridge);
            open.set(user, mine);
            for (const [data, isBinary] of early) ws.emit('message', data, isBinary);
          })
          .catch((err: unknown) => {
            clearTimeout(timer);
            release(slot);
            const failed = hasCode(err, 'ATRIUM_ERR_SPAWN_FAILED') ? atriumError('ATRIUM_ERR_SHELL_FAILED', err.message, { detail: err.detail }) : err;
            logClassified(log, classifyError(failed), 'web shell could not be opened', { ...who });
            const message = isAtriumError(failed) ? failed.message : 'The shell could not be started';
            if (ws.readyState === ws.OPEN) {
              ws.send(JSON.stringify({ type: 'error', message }));
              ws.close(CLOSE_FAILED, message.slice(0, 120));
            }
          });
      });
      server().then(upgrade).catch((err: unknown) => {
        release(slot);
        logClassified(log, classifyError(err), 'web shell could not be opened', { ...who });
        refuse(socket, atriumError('ATRIUM_ERR_HUB_INTERNAL'));
      });
    } catch (err) {
      const c = classifyError(err);
      logClassified(log, c, 'web shell refused', { url: url.pathname.slice(0, 300), user: me?.name });
      refuse(socket, isAtriumError(err) ? err : atriumError('ATRIUM_ERR_HUB_INTERNAL'));
    }
  };

  /** What a socket opens: a running server's shell (via its spawner) or a login host's. */
  interface Opener {
    who: Pick<BridgeArgs['who'], 'owner' | 'server' | 'loginHost'>;
    open(o: ShellOptions): Promise<ShellSession>;
    stillThere(): boolean;
  }
  const serverOpener = (me: UserRow, owner: string, server: string): Opener => {
    const t = shellTarget(hub, me, owner, server);
    return {
      who: { owner: t.owner.name, server: t.server },
      open: (o) => t.spawner.shell(o),
      stillThere: stillRunning(() => hub.spawns.get(t.owner.name, t.server), t.active),
    };
  };
  const loginHostOpener = (me: UserRow, name: string): Opener => {
    const t = loginHostTarget(hub, me, name);
    return {
      who: { owner: me.name, server: '', loginHost: t.host.name },
      open: (o) => openLoginHostShell(hub, me, t, o),
      // A reload that removes the host ends its shells.
      stillThere: () => hub.config.shell.loginHosts.some((h) => h.name === name),
    };
  };

  app.server.on('upgrade', onUpgrade);
  app.addHook('onClose', async () => {
    app.server.off('upgrade', onUpgrade);
    for (const set of open.values()) for (const b of set) if (b instanceof ShellBridge) b.close(CLOSE_HUB, 'the hub is restarting');
    open.clear();
    (await wss)?.close();
  });
}
