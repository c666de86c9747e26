/**
 * The spawn-pending page, in its two states: a start in progress (real progress, an event log
 * the user can open, a Cancel button) and a start that failed (a heading that says so, the
 * spawner's reason, a hint when one helps, Try again). Every failure of a start from the pages
 * lands here, a fast one (the program does not exist) as much as a slow one (the batch job died
 * in the queue), and so do refusals before the start (limits), so the user always has a next step.
 *
 * Without JavaScript the page reloads itself every few seconds (the server renders the current
 * state, so a reload is enough); with it, the page follows the JupyterHub progress stream
 * (`.../server/progress`) and reloads once on failure so the server renders the failure.
 */
import type { FastifyReply } from 'fastify';
import type { HubContext } from '../context.js';
import type { UserRow } from '../db/index.js';
import type { ClassifiedError } from '../error-classify.js';
import type { ActiveServer } from '../spawn/active.js';
import { escapePath } from '../spawn/env.js';
import { spawnFailureHint } from '../spawn/failure-hints.js';
import { esc, renderPage } from './layout.js';
import { encodeComponent } from './safe-redirect.js';

const NO_JS_RELOAD_SECONDS = 5;

/** `${hub}${page}/user[/server]` with escaped segments. */
export function serverPageUrl(hub: HubContext, page: 'spawn' | 'stop' | 'spawn-pending', user: string, server: string): string {
  return `${hub.urls.hub}${page}/${escapePath(user)}${server ? '/' + escapePath(server) : ''}`;
}

function progressUrl(hub: HubContext, user: string, server: string): string {
  return server
    ? `${hub.urls.hub}api/users/${escapePath(user)}/servers/${escapePath(server)}/progress`
    : `${hub.urls.hub}api/users/${escapePath(user)}/server/progress`;
}

/** An event's time as UTC text (the page's script turns it into the browser's local time). */
function eventTime(iso: string | undefined): string {
  if (!iso) return '';
  return `<time class="muted" datetime="${esc(iso)}">${esc(iso.slice(11, 19))} UTC </time>`;
}

/** JSON for an inline <script>: no "</script>" or "<!--" can close or confuse it. */
function scriptJson(v: unknown): string {
  return JSON.stringify(v).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

function serverLabel(user: string, server: string): string {
  return server ? `${user}'s server “${server}”` : `${user}'s server`;
}

export function renderPending(
  hub: HubContext,
  reply: FastifyReply,
  args: { me: UserRow; user: UserRow; server: string; a: ActiveServer; next: string; xsrf: string },
) {
  const { me, user, server, a, next, xsrf } = args;
  const last = a.events[a.events.length - 1];
  const percent = last?.progress ?? 0;
  const status = last?.message ?? 'Server requested';
  const items = a.events.map((e) => `<li>${eventTime(e.time)}${esc(e.message)}</li>`).join('');
  const whose = me.id === user.id ? 'Your server' : esc(serverLabel(user.name, server));
  const named = server && me.id === user.id ? ` “${esc(server)}”` : '';
  // Cancel is a POST with the session's XSRF token (the stop handler), never a link.
  const cancel = `<form class="inline" method="post" action="${esc(serverPageUrl(hub, 'stop', user.name, server))}">
      <input type="hidden" name="_xsrf" value="${esc(xsrf)}"><button class="danger" id="cancel" type="submit">Cancel</button></form>`;
  const body = `<div class="card" id="pending"><h1>${whose}${named} is starting</h1>
      <progress id="bar" max="100" value="${esc(percent)}" aria-label="Start progress">${esc(percent)}%</progress>
      <p id="msg" role="status" aria-live="polite">${esc(status)}</p>
      <p class="muted" id="redirect-note">You will be taken to the server automatically as soon as it is ready.</p>
      <noscript><meta http-equiv="refresh" content="${NO_JS_RELOAD_SECONDS}">
        <p class="muted">This page reloads every ${NO_JS_RELOAD_SECONDS} seconds.</p></noscript>
      <details id="events"><summary>Event log (<span id="count">${a.events.length}</span>)</summary><ol id="log">${items}</ol></details>
      <p>${cancel}<a class="button" href="${esc(hub.urls.hub)}home">Home</a></p></div>
      <script>
        (function () {
          var next = ${scriptJson(next)};
          var shown = ${a.events.length};
          var bar = document.getElementById('bar'), msg = document.getElementById('msg');
          var log = document.getElementById('log'), count = document.getElementById('count');
          var seen = 0, finished = false;
          // Event times in the browser's own time zone; the server wrote UTC for readers without JavaScript.
          function localTime(iso) { var d = new Date(iso); return isNaN(d.getTime()) ? null : d.toLocaleTimeString(); }
          function stamp(iso) {
            var t = document.createElement('time');
            t.setAttribute('datetime', iso);
            t.className = 'muted';
            t.textContent = (localTime(iso) || iso) + ' ';
            return t;
          }
          Array.prototype.forEach.call(log.querySelectorAll('time[datetime]'), function (t) {
            var s = localTime(t.getAttribute('datetime'));
            if (s) t.textContent = s + ' ';
          });
          var es = new EventSource(${scriptJson(progressUrl(hub, user.name, server))});
          es.onmessage = function (ev) {
            var e = JSON.parse(ev.data);
            seen++;
            // The stream replays the whole history first: the server already rendered what it had.
            if (seen > shown) {
              var li = document.createElement('li');
              if (e.time) li.appendChild(stamp(e.time));
              li.appendChild(document.createTextNode(e.message || ''));
              log.appendChild(li);
              count.textContent = String(seen);
              bar.value = e.progress || 0;
              msg.textContent = e.message || '';
            }
            if (e.ready) { finished = true; es.close(); window.location.replace(next); }
            // The server renders the failure (reason, hint, Try again with its XSRF token).
            else if (e.failed) { finished = true; es.close(); window.location.reload(); }
          };
          // Cancelling: the stream's "failed" event must not reload over the form's own navigation.
          document.getElementById('cancel').form.addEventListener('submit', function () { finished = true; es.close(); });
          es.onerror = function () {
            if (finished) return;
            es.close();
            setTimeout(function () { window.location.reload(); }, 2000);
          };
        })();
      </script>`;
  return renderPage(hub, reply, 'Starting', body, me);
}

/**
 * A start that failed or was refused. `status` is 200 for a failure recorded by the manager (the
 * page reports it, the request itself went fine) and the refusal's own 4xx otherwise.
 */
export function renderSpawnFailure(
  hub: HubContext,
  reply: FastifyReply,
  args: { me: UserRow; user: UserRow; server: string; failure: Pick<ClassifiedError, 'code' | 'message' | 'detail' | 'headers'>; xsrf: string; hasForm: boolean; status?: number },
) {
  const { me, user, server, failure, xsrf, hasForm } = args;
  const cancelled = failure.code === 'ATRIUM_ERR_SPAWN_CANCELLED';
  const whose = me.id === user.id ? `Your server${server ? ` “${server}”` : ''}` : serverLabel(user.name, server);
  const heading = cancelled ? `The start of ${me.id === user.id ? 'your server' : serverLabel(user.name, server)} was cancelled` : `${whose} could not start`;
  const hint = spawnFailureHint(failure);
  const retry = `<form class="inline" method="post" action="${esc(serverPageUrl(hub, 'spawn', user.name, server))}">
      <input type="hidden" name="_xsrf" value="${esc(xsrf)}"><input type="hidden" name="_retry" value="1">
      <button class="primary" id="retry" type="submit">${cancelled ? 'Start again' : 'Try again'}</button></form>`;
  // The options form again, for "choose a smaller size": GET /spawn shows it when nothing runs.
  const change = hasForm ? `<a class="button" href="${esc(serverPageUrl(hub, 'spawn', user.name, server))}">Change options</a>` : '';
  const body = `<div class="card" id="failed"><h1>${esc(heading)}</h1>
      ${cancelled ? '<p role="status">Nothing was left running.</p>' : `<p class="error" role="alert" id="reason" style="white-space:pre-wrap">${esc(failure.message)}</p>`}
      ${hint ? `<p id="hint">${esc(hint)}</p>` : ''}
      <p>${retry}${change}<a class="button" href="${esc(hub.urls.hub)}home">Home</a></p></div>`;
  reply.headers(failure.headers);
  return renderPage(hub, reply, cancelled ? 'Start cancelled' : 'Start failed', body.replace(/\n\s+\n/g, '\n'), me, args.status ?? 200);
}

/** A server on its way down (a stop, or a cancel past the point of no return): reload until it is gone. */
export function renderStopping(hub: HubContext, reply: FastifyReply, me: UserRow, user: UserRow, server: string) {
  const whose = me.id === user.id ? `Your server${server ? ` “${server}”` : ''}` : serverLabel(user.name, server);
  return renderPage(hub, reply, 'Stopping', `<div class="card" id="stopping"><h1>${esc(whose)} is stopping</h1>
      <meta http-equiv="refresh" content="2"><p role="status">This page reloads until it has stopped.</p>
      <p><a class="button" href="${esc(hub.urls.hub)}home">Home</a></p></div>`, me);
}

/** Neither starting nor running (JupyterHub's "not running" page): a Start button, no automatic start. */
export function renderNotRunning(hub: HubContext, reply: FastifyReply, me: UserRow, user: UserRow, server: string, next: string | null) {
  const whose = me.id === user.id ? `Your server${server ? ` “${server}”` : ''}` : serverLabel(user.name, server);
  const start = `${serverPageUrl(hub, 'spawn', user.name, server)}${next ? `?next=${encodeComponent(next)}` : ''}`;
  return renderPage(hub, reply, 'Not running', `<div class="card" id="not-running"><h1>${esc(whose)} is not running</h1>
      <p><a class="button primary" id="start" href="${esc(start)}">Start</a><a class="button" href="${esc(hub.urls.hub)}home">Home</a></p></div>`, me);
}
