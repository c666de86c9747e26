/**
 * Server-rendered pages: one layout, HTML escaping everywhere, readable on a phone, no build
 * step. Every interpolated value goes through esc().
 */
import type { FastifyReply } from 'fastify';
import type { HubContext } from '../context.js';
import type { UserRow } from '../db/index.js';
// Job and session notifications on every page of a logged-in user when the portal is on.
import { portalNotifications } from '../jobs/client.js';
import { inWords } from './time-words.js';
import { staffGroupsOf } from '../staff/role.js';

export function esc(v: unknown): string {
  return String(v ?? '').replace(/[&<>"'`]/g, (c) => `&#${c.charCodeAt(0)};`);
}

const STYLE = `
  :root { --fg:#1d2433; --muted:#5b6478; --accent:#2458d6; --bg:#f6f7fb; --card:#fff; --bad:#b42318; --ok:#067647; }
  * { box-sizing: border-box; }
  body { margin:0; font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; color:var(--fg); background:var(--bg); }
  header { display:flex; gap:1rem; align-items:center; padding:.6rem 1rem; background:#111827; color:#fff; flex-wrap:wrap; }
  header a { color:#fff; text-decoration:none; } header .brand { font-weight:700; margin-right:auto; }
  main { max-width:56rem; margin:1.5rem auto; padding:0 1rem; }
  .card { background:var(--card); border-radius:10px; padding:1.25rem; box-shadow:0 1px 3px rgba(0,0,0,.08); margin-bottom:1rem; }
  h1 { font-size:1.5rem; margin-top:0; }
  label { display:block; margin:.75rem 0 .25rem; font-weight:600; }
  input,select { width:100%; padding:.6rem; font-size:1rem; border:1px solid #c9cfdb; border-radius:6px; }
  input[type=checkbox] { width:auto; }
  button,.button { display:inline-block; padding:.55rem 1rem; font-size:1rem; border-radius:6px; border:1px solid #c9cfdb; background:#fff; color:var(--fg); cursor:pointer; text-decoration:none; margin:.25rem .25rem .25rem 0; }
  button.primary,.button.primary { background:var(--accent); color:#fff; border-color:var(--accent); }
  button.danger { background:var(--bad); color:#fff; border-color:var(--bad); }
  .error { color:var(--bad); font-weight:600; } .ok { color:var(--ok); } .muted { color:var(--muted); }
  table { width:100%; border-collapse:collapse; } td,th { text-align:left; padding:.5rem; border-bottom:1px solid #e5e7eb; vertical-align:top; }
  form.inline { display:inline; }
  progress { width:100%; height:1.2rem; }
  #log { font-family:ui-monospace,monospace; font-size:.9rem; white-space:pre-wrap; max-height:14rem; overflow:auto; }
  code { word-break:break-all; }
  h1,h2 { margin-top:0; } td { overflow-wrap:break-word; } td.muted { overflow-wrap:anywhere; } td .button,td button { white-space:nowrap; }
  /* Phones: brand on its own row, denser tables; a table that is still too wide scrolls inside its card. */
  @media (max-width:32rem) {
    header { gap:.35rem .9rem; } header .brand { flex-basis:100%; }
    main { margin-top:1rem; padding:0 .6rem; } .card { padding:1rem .8rem; overflow-x:auto; }
    td,th { padding:.4rem .3rem; font-size:.9rem; } td .button,td button { padding:.4rem .7rem; font-size:.9rem; }
  }
`;

/** "3 min ago" style for tables; the exact ISO time stays in the title attribute. */
export function ago(iso: string | null | undefined): string {
  if (!iso) return '<span class="muted">never</span>';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return esc(iso);
  const s = Math.round((Date.now() - t) / 1000);
  const text = Math.abs(s) < 60 ? 'just now'
    : s < 0 ? inWords(-s)
    : s < 3600 ? `${Math.round(s / 60)} min ago`
    : s < 86400 ? `${Math.round(s / 3600)} h ago`
    : `${Math.round(s / 86400)} days ago`;
  return `<time datetime="${esc(iso)}" title="${esc(iso)}">${text}</time>`;
}

export function layout(hub: HubContext, title: string, body: string, user?: UserRow | null): string {
  const h = hub.urls.hub;
  const nav = user
    ? `<a href="${esc(h)}home">Home</a>${hub.config.jobs?.enabled ? `<a href="${esc(h)}my-work">My work</a><a href="${esc(h)}jobs">Jobs</a>` : ''}<a href="${esc(h)}token">Token</a>${user.admin ? `<a href="${esc(h)}admin">Admin</a>` : ''}${user.admin || staffGroupsOf(hub.config, user.name).length ? `<a href="${esc(h)}staff">Staff</a>` : ''}<span>${esc(user.name)}</span><a href="${esc(h)}logout">Logout</a>`
    : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)} — Atrium</title><link rel="icon" type="image/svg+xml" href="${esc(h)}favicon.ico"><style>${STYLE}</style></head>
<body><header><a class="brand" href="${esc(h)}home">Atrium</a>${nav}</header><main>${body}</main>${user && hub.config.jobs?.enabled ? portalNotifications(h, hub.portalCursor?.() ?? '') : ''}</body></html>`;
}

export function renderPage(hub: HubContext, reply: FastifyReply, title: string, body: string, user?: UserRow | null, status = 200) {
  reply
    .code(status)
    .type('text/html; charset=utf-8')
    .header('Content-Security-Policy', `frame-ancestors 'self'; default-src 'self'; style-src 'unsafe-inline'; script-src 'self' 'unsafe-inline'`)
    .header('X-Content-Type-Options', 'nosniff');
  return reply.send(layout(hub, title, body, user));
}

export function renderError(hub: HubContext, reply: FastifyReply, status: number, message: string, user?: UserRow | null) {
  const titles: Record<number, string> = { 400: 'Bad request', 403: 'Forbidden', 404: 'Not found', 405: 'Method not allowed', 413: 'Too large', 429: 'Busy', 500: 'Something went wrong', 503: 'Unavailable' };
  const title = titles[status] ?? `Error ${status}`;
  return renderPage(hub, reply, title, `<div class="card"><h1>${esc(status)}: ${esc(title)}</h1><p>${esc(message)}</p>
    <p><a class="button" href="${esc(hub.urls.hub)}home">Home</a></p></div>`, user, status);
}
