/** The token page: create an API token (shown once) and revoke existing ones. */
import type { FastifyInstance } from 'fastify';
import { checkXsrf, xsrfToken } from '../auth/session.js';
import { hashToken, newToken, tokenPrefix } from '../auth/crypto.js';
import { ago, esc, renderPage } from './layout.js';
import { pageUser, redirectToLogin } from './login.js';
import { redirect } from './safe-redirect.js';

export async function tokenPages(app: FastifyInstance): Promise<void> {
  const hub = app.hub;

  const page = async (req: Parameters<typeof pageUser>[1], reply: Parameters<typeof pageUser>[2], created?: string) => {
    const me = await pageUser(hub, req, reply);
    if (!me) return redirectToLogin(hub, req, reply);
    const xsrf = xsrfToken(hub, req, reply);
    const h = esc(hub.urls.hub);
    const hidden = `<input type="hidden" name="_xsrf" value="${esc(xsrf)}">`;
    const rows = hub.stores.tokens.ofUser(me.id)
      .filter((t) => t.server_id === null)
      .map((t) => `<tr><td>${esc(t.note)}</td><td class="muted">${ago(t.created)}</td><td class="muted">${t.expires_at ? ago(t.expires_at) : 'never'}</td>
        <td><form class="inline" method="post" action="${h}token/revoke">${hidden}<input type="hidden" name="id" value="${t.id}"><button class="danger">Revoke</button></form></td></tr>`)
      .join('') || '<tr><td colspan="4" class="muted">No tokens yet.</td></tr>';
    const shown = created
      ? `<div class="card"><h2>Your new token</h2><p>Copy it now; it is not shown again.</p><p><code id="new-token">${esc(created)}</code></p></div>`
      : '';
    return renderPage(hub, reply, 'Tokens', `${shown}<div class="card"><h1>API tokens</h1>
      <form method="post" action="${h}token">${hidden}
        <label for="note">Note</label><input id="note" name="note" maxlength="200" placeholder="What is this token for?">
        <label for="expires">Expires in</label><select id="expires" name="expires_in">
          <option value="3600">1 hour</option><option value="86400">1 day</option><option value="604800" selected>1 week</option><option value="">Never</option></select>
        <p><button class="primary" type="submit">Request new token</button></p></form></div>
      <div class="card"><h2>Existing tokens</h2><table><thead><tr><th>Note</th><th>Created</th><th>Expires</th><th></th></tr></thead><tbody>${rows}</tbody></table></div>`, me);
  };

  app.get('/token', (req, reply) => page(req, reply));

  app.post('/token', async (req, reply) => {
    const me = await pageUser(hub, req, reply);
    if (!me) return redirectToLogin(hub, req, reply);
    const body = (req.body ?? {}) as Record<string, unknown>;
    checkXsrf(hub, req, body._xsrf);
    const note = typeof body.note === 'string' && body.note.trim() ? body.note.trim().slice(0, 200) : 'Requested via token page';
    const secs = Number(body.expires_in);
    const expiresAt = Number.isFinite(secs) && secs > 0 && secs <= 10 * 365 * 86400 ? new Date(Date.now() + secs * 1000).toISOString() : null;
    const token = newToken();
    hub.stores.tokens.insert({ userId: me.id, prefix: tokenPrefix(token), hashed: hashToken(token), scopes: ['inherit'], note, expiresAt });
    reply.header('Cache-Control', 'no-store');
    return page(req, reply, token);
  });

  app.post('/token/revoke', async (req, reply) => {
    const me = await pageUser(hub, req, reply);
    if (!me) return redirectToLogin(hub, req, reply);
    const body = (req.body ?? {}) as Record<string, unknown>;
    checkXsrf(hub, req, body._xsrf);
    const t = hub.stores.tokens.get(Number(body.id));
    if (t && t.user_id === me.id && t.server_id === null) hub.stores.tokens.delete(t.id);
    return redirect(reply, `${hub.urls.hub}token`, 303);
  });
}
