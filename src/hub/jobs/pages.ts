/**
 * Portal pages: /hub/jobs (submit from a template or a script, my jobs live), /hub/jobs/ID (one
 * job: state, output followed while it runs, cancel, resubmit with changes) and /hub/my-work (the
 * user's sessions and jobs on one page, with their URLs, time left and stop buttons).
 * Forms post with the session's XSRF token; a user sees only their own jobs (admins everyone's).
 */
import { loginHostLinks, shellLink } from '../shell/link.js';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { checkXsrf, xsrfToken } from '../auth/session.js';
import { pageUser, redirectToLogin } from '../pages/login.js';
import { esc, renderPage } from '../pages/layout.js';
import { redirect } from '../pages/safe-redirect.js';
import { atriumError } from '../errors.js';
import { classifyError } from '../error-classify.js';
import type { UserRow } from '../db/index.js';
import { serverPrefix } from '../spawn/env.js';
import type { JobService } from './service.js';
import type { JobTemplateConfig } from './config.js';
import type { JobWithUser } from './store.js';
import { notifyButton, outputScript, PORTAL_STYLE } from './client.js';
import { bucketOf, parseTasks, taskCounts } from './array.js';

const escapePath = (s: string) => encodeURIComponent(s);

function field(f: JobTemplateConfig['fields'][number], value: unknown): string {
  const id = `f-${esc(f.name)}`;
  const v = value ?? f.default ?? '';
  const help = f.help ? `<p class="muted">${esc(f.help)}</p>` : '';
  if (f.type === 'select') {
    const opts = f.choices.map((c) => `<option value="${esc(c)}"${String(v) === c ? ' selected' : ''}>${esc(c)}</option>`).join('');
    return `<label for="${id}">${esc(f.label)}</label><select id="${id}" name="p_${esc(f.name)}">${opts}</select>${help}`;
  }
  if (f.type === 'number') {
    const lim = `${f.min !== undefined ? ` min="${f.min}"` : ''}${f.max !== undefined ? ` max="${f.max}"` : ''}`;
    const range = f.min !== undefined || f.max !== undefined ? ` <span class="muted">(${f.min ?? '…'}–${f.max ?? '…'})</span>` : '';
    return `<label for="${id}">${esc(f.label)}${range}</label><input id="${id}" name="p_${esc(f.name)}" type="number" step="1"${lim} value="${esc(v)}" required>${help}`;
  }
  return `<label for="${id}">${esc(f.label)}</label><input id="${id}" name="p_${esc(f.name)}" value="${esc(v)}" required>${help}`;
}

function templateForm(hub: string, xsrf: string, t: JobTemplateConfig, values: Record<string, unknown> = {}): string {
  return `<form method="post" action="${esc(hub)}jobs" class="card" data-template="${esc(t.name)}">
    <h2>${esc(t.title)}</h2><p class="muted">${esc(t.description)}</p>
    <input type="hidden" name="_xsrf" value="${esc(xsrf)}"><input type="hidden" name="template" value="${esc(t.name)}">
    ${t.fields.map((f) => field(f, values[f.name])).join('')}
    <button class="primary" type="submit">Submit ${esc(t.title)}</button></form>`;
}

function scriptForm(hub: string, xsrf: string, script = '#!/bin/bash\n#SBATCH --time=10\n\nhostname\n', name = 'script'): string {
  return `<form method="post" action="${esc(hub)}jobs" class="card" id="script-form">
    <h2>Your own script</h2>
    <input type="hidden" name="_xsrf" value="${esc(xsrf)}">
    <label for="job-name">Job name</label><input id="job-name" name="name" value="${esc(name)}" pattern="[A-Za-z0-9_.+\\-]{1,64}" required>
    <label for="job-script">Batch script</label><textarea id="job-script" name="script" spellcheck="false">${esc(script)}</textarea>
    <label for="job-array">Job array (optional)</label><input id="job-array" name="array" placeholder="0-9%2" pattern="[0-9,:%\-]{1,100}">
    <p class="muted">Task ids and ranges (0-9, 1,3,5-7, 0-15:4), %N for at most N at once; or an #SBATCH --array line in the script. Each task writes its own files (%A_%a).</p>
    <label for="job-file">…or load a file</label><input id="job-file" type="file" accept=".sh,.sbatch,.job,text/plain">
    <button class="primary" type="submit">Submit script</button></form>
    <script>document.getElementById('job-file').addEventListener('change', function (e) {
      var f = e.target.files[0]; if (!f) return; var r = new FileReader();
      r.onload = function () { document.getElementById('job-script').value = r.result; document.getElementById('job-name').value = f.name.replace(/[^A-Za-z0-9_.+-]/g, '_').slice(0, 64); };
      r.readAsText(f); });</script>`;
}

/** An array's spec and task counts under its state. */
function arraySummary(j: JobWithUser): string {
  if (!j.array_spec) return '';
  const c = taskCounts(parseTasks(j.tasks));
  return `<br><span class="muted" data-f="array">array ${esc(j.array_spec)}: ${c.queued} queued, ${c.running} running, ${c.done} done, ${c.failed} failed${c.cancelled ? `, ${c.cancelled} cancelled` : ''}</span>`;
}

/** The task table of an array job: state, exit code, its output, and cancel while it may run. */
function taskTable(hub: string, xsrf: string, j: JobWithUser, current: number | null): string {
  const rows = Object.entries(parseTasks(j.tasks))
    .sort(([a], [b]) => Number(a) - Number(b))
    .map(([id, t]) => {
      const live = bucketOf(t) === 'queued' || bucketOf(t) === 'running';
      const cancel = live && !j.finished ? `<form class="inline" method="post" action="${esc(hub)}jobs/${esc(j.slurm_id)}/cancel"><input type="hidden" name="_xsrf" value="${esc(xsrf)}"><input type="hidden" name="task" value="${esc(id)}"><button class="danger" type="submit">Cancel task</button></form>` : '';
      const link = Number(id) === current ? '<strong>shown below</strong>' : `<a href="${esc(hub)}jobs/${esc(j.slurm_id)}?task=${esc(id)}">output</a>`;
      return `<tr data-task="${esc(id)}"><td>${esc(id)}</td><td>${esc(t.state)}${t.reason ? ` <span class="muted">${esc(t.reason)}</span>` : ''}</td><td>${esc(t.node ?? '')}</td><td>${esc(t.exit ?? '')}</td><td>${link} ${cancel}</td></tr>`;
    });
  return `<h2>Tasks</h2><table><thead><tr><th>Task</th><th>State</th><th>Node</th><th>Exit</th><th></th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function jobRows(hub: string, xsrf: string, jobs: JobWithUser[], showUser: boolean): string {
  if (!jobs.length) return '<p class="muted">No jobs yet.</p>';
  const rows = jobs.map((j) => {
    const cancel = j.finished ? '' : `<form class="inline cancel" method="post" action="${esc(hub)}jobs/${esc(j.slurm_id)}/cancel"><input type="hidden" name="_xsrf" value="${esc(xsrf)}"><button class="danger" type="submit">Cancel</button></form>`;
    return `<tr data-job="${esc(j.slurm_id)}"><td><a href="${esc(hub)}jobs/${esc(j.slurm_id)}">${esc(j.slurm_id)}</a></td>${showUser ? `<td>${esc(j.user_name)}</td>` : ''}<td>${esc(j.name)}</td>
      <td><span data-f="state" class="state-${esc(j.state)}">${esc(j.state)}</span> <span class="muted" data-f="reason">${esc(j.reason)}</span>${arraySummary(j)}</td>
      <td data-f="node_list">${esc(j.node_list)}</td><td data-f="elapsed">${esc(j.time_used ?? '')}</td><td data-f="time_left">${esc(j.time_left ?? '')}</td><td data-f="exit_code">${esc(j.exit_code ?? '')}</td><td>${cancel}</td></tr>`;
  });
  return `<table><thead><tr><th>Job</th>${showUser ? '<th>User</th>' : ''}<th>Name</th><th>State</th><th>Node</th><th>Elapsed</th><th>Time left</th><th>Exit</th><th></th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

export function jobsPages(svc: JobService) {
  return async (app: FastifyInstance): Promise<void> => {
    const hub = app.hub;
    const h = hub.urls.hub;

    // The layout adds the notification script (one event stream) to every page of a logged-in user.
    const page = (reply: FastifyReply, me: UserRow, title: string, body: string) => renderPage(hub, reply, title, `${PORTAL_STYLE}${body}`, me);
    const failPage = (reply: FastifyReply, me: UserRow, err: unknown) => {
      const c = classifyError(err);
      return renderPage(hub, reply, 'Job', `<div class="card"><h1>${esc(c.status)}</h1><p class="error">${esc(c.message)}</p><p><a href="${esc(h)}jobs">Back to jobs</a></p></div>`, me, c.status);
    };
    const visible = (me: UserRow, id: string): JobWithUser => {
      const job = svc.get(id);
      if (job.user_id !== me.id && !me.admin) throw atriumError('ATRIUM_ERR_JOB_NOT_FOUND');
      return job;
    };

    app.get('/jobs', async (req, reply) => {
      const me = await pageUser(hub, req, reply);
      if (!me) return redirectToLogin(hub, req, reply);
      const xsrf = xsrfToken(hub, req, reply);
      const jobs = svc.store.list(me.id, { limit: 100, offset: 0 });
      const forms = svc.cfg.templates.map((t) => templateForm(h, xsrf, t)).join('') + (svc.cfg.customScripts ? scriptForm(h, xsrf) : '');
      return page(reply, me, 'Jobs', `<div class="card"><h1>My jobs</h1>${notifyButton()} <a class="button" href="${esc(h)}my-work">My work</a>
        ${jobRows(h, xsrf, jobs, false)}</div>${forms}`);
    });

    app.post('/jobs', async (req, reply) => {
      const me = await pageUser(hub, req, reply);
      if (!me) return redirectToLogin(hub, req, reply);
      const body = (typeof req.body === 'object' && req.body ? req.body : {}) as Record<string, unknown>;
      checkXsrf(hub, req, body._xsrf);
      try {
        const input: Record<string, unknown> = {};
        if (typeof body.template === 'string' && body.template) {
          input.template = body.template;
          input.params = Object.fromEntries(Object.entries(body).filter(([k]) => k.startsWith('p_')).map(([k, v]) => [k.slice(2), v]));
        } else {
          input.script = body.script;
          input.name = body.name;
          if (typeof body.array === 'string' && body.array.trim() !== '') input.array = body.array;
        }
        const job = await svc.submit(me, svc.request(me, input));
        return redirect(reply, `${h}jobs/${job.slurm_id}`, 303);
      } catch (err) {
        return failPage(reply, me, err);
      }
    });

    app.get<{ Params: { id: string }; Querystring: { task?: string } }>('/jobs/:id', async (req, reply) => {
      const me = await pageUser(hub, req, reply);
      if (!me) return redirectToLogin(hub, req, reply);
      let job: JobWithUser;
      try {
        job = visible(me, req.params.id);
      } catch (err) {
        return failPage(reply, me, err);
      }
      const xsrf = xsrfToken(hub, req, reply);
      const tpl = job.template ? svc.cfg.templates.find((t) => t.name === job.template) : undefined;
      let params: Record<string, unknown> = {};
      try {
        params = JSON.parse(job.params) as Record<string, unknown>;
      } catch {
        params = {};
      }
      const resubmit = job.user_id !== me.id ? '' : tpl ? templateForm(h, xsrf, tpl, params) : svc.cfg.customScripts ? scriptForm(h, xsrf, job.script, job.name) : '';
      // An array shows one task's files at a time (?task=N, the first task by default).
      const taskIds = Object.keys(parseTasks(job.tasks)).map(Number).sort((a, b) => a - b);
      const asked = req.query.task !== undefined && /^\d{1,7}$/.test(req.query.task) ? Number(req.query.task) : null;
      const task = job.array_spec ? (asked !== null && taskIds.includes(asked) ? asked : (taskIds[0] ?? null)) : null;
      const out = (s: 'stdout' | 'stderr', label: string) => `<h2>${label}${task !== null ? ` of task ${task}` : ''}</h2><p class="muted" id="note-${s}">loading…</p><pre class="output" id="out-${s}"></pre>`;
      return page(reply, me, `Job ${job.slurm_id}`, `<div class="card"><h1>Job ${esc(job.slurm_id)}: ${esc(job.name)}</h1>${notifyButton()}
        ${jobRows(h, xsrf, [job], job.user_id !== me.id)}${job.array_spec ? taskTable(h, xsrf, job, task) : ''}
        <p class="muted">Submitted ${esc(job.submitted_at)}${job.started_at ? `, started ${esc(job.started_at)}` : ''}${job.ended_at ? `, ended ${esc(job.ended_at)}` : ''}</p>
        ${out('stdout', 'Output')}${job.stderr_path && job.stderr_path !== job.stdout_path ? out('stderr', 'Errors') : ''}
        <details><summary>Script</summary><pre class="output">${esc(job.script)}</pre></details></div>
        ${resubmit ? `<h2>Resubmit with changes</h2>${resubmit}` : ''}${outputScript(h, job.slurm_id, job.finished === 0, task)}`);
    });

    app.post<{ Params: { id: string } }>('/jobs/:id/cancel', async (req, reply) => {
      const me = await pageUser(hub, req, reply);
      if (!me) return redirectToLogin(hub, req, reply);
      const body = (typeof req.body === 'object' && req.body ? req.body : {}) as Record<string, unknown>;
      checkXsrf(hub, req, body._xsrf);
      try {
        await svc.cancel(visible(me, req.params.id), typeof body.task === 'string' && body.task !== '' ? body.task : null);
        return redirect(reply, `${h}jobs/${encodeURIComponent(req.params.id)}`, 303);
      } catch (err) {
        return failPage(reply, me, err);
      }
    });

    app.get('/my-work', async (req, reply) => {
      const me = await pageUser(hub, req, reply);
      if (!me) return redirectToLogin(hub, req, reply);
      const xsrf = xsrfToken(hub, req, reply);
      const sessions = hub.stores.servers
        .ofUser(me.id)
        .map((row) => ({ row, a: hub.spawns.get(me.name, row.name) }))
        .filter(({ a }) => a)
        .map(({ row, a }) => {
          let endsAt = '';
          try {
            const st = JSON.parse(row.state) as { endsAt?: unknown };
            if (typeof st.endsAt === 'string') endsAt = st.endsAt;
          } catch {
            endsAt = '';
          }
          const url = serverPrefix(hub, me.name, row.name);
          const left = endsAt ? `<time datetime="${esc(endsAt)}" data-ends="${esc(endsAt)}">${esc(endsAt)}</time>` : '<span class="muted">no limit</span>';
          const stop = `<form class="inline" method="post" action="${esc(h)}stop/${esc(escapePath(me.name))}${row.name ? '/' + esc(escapePath(row.name)) : ''}"><input type="hidden" name="_xsrf" value="${esc(xsrf)}"><button class="danger" type="submit">Stop</button></form>`;
          const state = a!.phase === 'running' ? '<span class="ok">running</span>' : a!.phase === 'spawn' ? 'starting' : 'stopping';
          return `<tr data-session="${esc(row.name)}"><td>${esc(row.name || 'Default server')}</td><td>${state}</td><td><a href="${esc(url)}">${esc(url)}</a></td><td>${left}</td><td>${a!.phase === 'running' ? shellLink(hub, me, me.name, row.name) + stop : ''}</td></tr>`;
        });
      const jobs = svc.store.list(me.id, { active: true, limit: 100, offset: 0 });
      const sessionTable = sessions.length
        ? `<table><thead><tr><th>Session</th><th>State</th><th>URL</th><th>Ends</th><th></th></tr></thead><tbody>${sessions.join('')}</tbody></table>`
        : `<p class="muted">No session running. <a href="${esc(h)}home">Start one</a>.</p>`;
      return page(reply, me, 'My work', `<div class="card"><h1>My work</h1>${notifyButton()}<h2>Sessions</h2>${sessionTable}</div>${loginHostLinks(hub, me)}
        <div class="card"><h2>Jobs queued or running</h2>${jobRows(h, xsrf, jobs, false)}<p><a href="${esc(h)}jobs">All jobs and submit</a></p></div>
        <script>(function () {
          // Time left counts down in the page; the end time itself comes from Slurm.
          function tick() { document.querySelectorAll('[data-ends]').forEach(function (t) {
            var s = Math.round((Date.parse(t.getAttribute('data-ends')) - Date.now()) / 1000);
            t.textContent = s <= 0 ? 'ended' : Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min left'; }); }
          tick(); setInterval(tick, 30000);
          window.atriumOnSession = function () { setTimeout(function () { location.reload(); }, 500); };
        })();</script>`);
    });
  };
}
