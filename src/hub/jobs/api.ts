/**
 * /hub/api/jobs: batch jobs with JupyterHub-style scopes. `read:jobs` lists and reads jobs and
 * their output, `jobs` submits and cancels (and implies `read:jobs`); users hold both filtered to
 * themselves (`!user`), the admin role holds `jobs` unfiltered. Another user's job answers 404,
 * as a missing one does, so ids do not leak who runs what.
 *
 * Cookie-authenticated calls that change something must carry the page's XSRF token
 * (X-XSRFToken), on top of the hub's same-origin Referer rule for cookie API calls.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { checkXsrf } from '../auth/session.js';
import { canSee } from '../auth/scopes.js';
import { groupsResolver } from '../auth/identity.js';
import { atriumError } from '../errors.js';
import { objectBody } from '../api/body.js';
import { authenticated, needsScope, pageOf, paged } from '../api/guard.js';
import { jobModel } from './model.js';
import type { JobService } from './service.js';
import { PortalEvents, type PortalEvent } from './events.js';

type IdParams = { Params: { id: string } };

export function jobsApi(svc: JobService) {
  return async (app: FastifyInstance): Promise<void> => {
    const hub = app.hub;
    // Open event streams end when the hub closes, or its close would wait for every open page.
    const streams = new Set<() => void>();
    app.addHook('preClose', async () => {
      for (const end of [...streams]) end();
    });

    const xsrfIfCookie = (req: FastifyRequest, via: string) => {
      if (via === 'cookie') checkXsrf(hub, req, undefined);
    };

    /** The job named in the URL, if the caller holds `scope` for its owner (else 404). */
    const jobFor = (req: FastifyRequest<IdParams>, scope: 'jobs' | 'read:jobs') => {
      const job = svc.get(req.params.id);
      const { ident } = needsScope(hub, req, [scope], { user: job.user_name });
      return { job, ident };
    };

    app.get('/api/jobs', async (req, reply) => {
      const q = req.query as Record<string, string | undefined>;
      const page = pageOf(req);
      const active = q.state === undefined || q.state === '' ? undefined : q.state === 'active' ? true : q.state === 'done' ? false : null;
      if (active === null) throw atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', 'state must be "active" or "done"');
      let userId: number | null;
      if (q.user) {
        needsScope(hub, req, ['read:jobs'], { user: q.user });
        const u = hub.stores.users.get(q.user);
        if (!u) throw atriumError('ATRIUM_ERR_USER_NOT_FOUND');
        userId = u.id;
      } else {
        // Unfiltered read:jobs (admins): everyone's; filtered: the caller's own.
        const { ident, filtered } = needsScope(hub, req, ['read:jobs']);
        userId = filtered ? ident.user.id : null;
      }
      const rows = svc.store.list(userId, { active, limit: page.limit, offset: page.offset });
      reply.type('application/json');
      return paged(hub, req, page, rows.map((r) => jobModel(r)), userId === null ? svc.store.count(null) : svc.store.count(userId));
    });

    app.get('/api/jobs/templates', async (req) => {
      needsScope(hub, req, ['read:jobs']);
      return { custom_scripts: svc.cfg.customScripts, templates: svc.cfg.templates.map((t) => ({ name: t.name, title: t.title, description: t.description, fields: t.fields })) };
    });

    app.post('/api/jobs', async (req, reply) => {
      // Jobs are submitted as the caller: `jobs` for their own user is what counts.
      const { ident } = needsScope(hub, req, ['jobs'], { user: authenticated(hub, req).user.name });
      xsrfIfCookie(req, ident.via);
      const body = objectBody(req);
      const job = await svc.submit(ident.user, svc.request(ident.user, body));
      reply.code(201).type('application/json');
      return jobModel(job, true);
    });

    app.get<IdParams>('/api/jobs/:id', async (req) => jobModel(jobFor(req, 'read:jobs').job, true));

    // ?task=N cancels one task of a job array; without it, the whole job or array.
    app.delete<IdParams & { Querystring: { task?: string } }>('/api/jobs/:id', async (req, reply) => {
      const { job, ident } = jobFor(req, 'jobs');
      xsrfIfCookie(req, ident.via);
      await svc.cancel(job, req.query.task ?? null);
      return reply.code(204).send();
    });

    app.get<IdParams & { Querystring: { stream?: string; offset?: string; task?: string } }>('/api/jobs/:id/output', async (req) => {
      const { job } = jobFor(req, 'read:jobs');
      const stream = req.query.stream ?? 'stdout';
      if (stream !== 'stdout' && stream !== 'stderr') throw atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', 'stream must be "stdout" or "stderr"');
      const raw = req.query.offset;
      if (raw !== undefined && raw !== '' && !/^\d{1,15}$/.test(raw)) throw atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', 'offset must be a byte count');
      const chunk = await svc.output(job, stream, raw === undefined || raw === '' ? null : Number(raw), req.query.task ?? null);
      return { stream, path: chunk.path, size: chunk.size, offset: chunk.offset, next_offset: chunk.offset + Buffer.byteLength(chunk.text), text: chunk.text, active: job.finished === 0 };
    });

    // One event stream per open page: job changes from the shared poller and session events.
    app.get('/api/jobs/events', async (req: FastifyRequest, reply: FastifyReply) => {
      const { ident, filtered } = needsScope(hub, req, ['read:jobs']);
      const q = req.query as Record<string, string | undefined>;
      const everyone = q.all === '1' && !filtered;
      const groupsOf = groupsResolver(hub);
      const mayHear = (e: PortalEvent) => e.user === ident.user.name || canSee(ident.scopes, 'read:jobs', e.user, groupsOf);
      // Where to start: a reconnecting EventSource sends the last id it saw; a page's first open
      // names the cursor it was rendered at (events.ts). Neither: live events only.
      const header = req.headers['last-event-id'];
      const fromHeader = typeof header === 'string' && header !== '';
      const after = fromHeader ? header : q.after;
      if (after !== undefined && after !== '' && !PortalEvents.validCursor(after)) {
        throw atriumError('ATRIUM_ERR_HTTP_BAD_REQUEST', `${fromHeader ? 'Last-Event-ID' : 'after'} must be an event id such as "0a1b2c3d-42"`);
      }
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', 'X-Accel-Buffering': 'no' });
      res.write(': atrium portal events\n\n');
      const send = (e: PortalEvent, id: string) => {
        if (e.type === 'session' && e.user !== ident.user.name) return; // sessions: one's own only
        if (!mayHear(e)) return;
        res.write(`id: ${id}\nevent: ${e.type}\ndata: ${JSON.stringify({ what: e.what, user: e.user, message: e.message, ...e.data })}\n\n`);
      };
      // Replay and subscribe in the same turn, so no event falls between them.
      if (after !== undefined && after !== '') {
        const replay = svc.events.since(after);
        if ('resync' in replay) res.write(`id: ${svc.events.cursor()}\nevent: resync\ndata: {}\n\n`);
        // The same events the subscription below would have delivered: one's own, or all for '*'.
        else for (const r of replay.events) if (everyone || r.e.user === ident.user.name) send(r.e, r.id);
      }
      const unsubscribe = svc.events.subscribe(everyone ? '*' : ident.user.name, send);
      const keepalive = setInterval(() => res.write(': keepalive\n\n'), 15_000);
      keepalive.unref();
      const end = () => {
        clearInterval(keepalive);
        unsubscribe();
        streams.delete(end);
        res.end();
      };
      streams.add(end);
      req.raw.once('close', end);
    });
  };
}

/** With jobs.enabled false, every portal route answers with the one clear code. */
export async function jobsDisabled(app: FastifyInstance): Promise<void> {
  const off = async () => {
    throw atriumError('ATRIUM_ERR_JOBS_DISABLED');
  };
  for (const path of ['/api/jobs', '/api/jobs/*', '/jobs', '/jobs/*', '/my-work']) app.all(path, off);
}
