/**
 * The HPC portal's batch jobs as one hub feature (issue 14 items 1, 2, 3, 5): the REST API, the
 * pages and the tracker that rides on the Slurm spawner's poller. Registered once in app.ts; with
 * `jobs.enabled` false every portal route answers ATRIUM_ERR_JOBS_DISABLED (404).
 */
import type { FastifyInstance } from 'fastify';
import { jobsApi, jobsDisabled } from './api.js';
import { jobsPages } from './pages.js';
import { JobService } from './service.js';

export async function jobsFeature(app: FastifyInstance): Promise<void> {
  const hub = app.hub;
  const cfg = hub.config.jobs;
  // The config check refuses jobs with a kind that has no batch jobs; this guards a hand-built context.
  const kind = hub.spawnerKind;
  if (!cfg.enabled || !kind.batchJobs) return jobsDisabled(app);
  const svc = new JobService(hub, cfg, kind.batchJobs(hub.spawnerOptions), hub.log.child({ component: 'jobs' }));
  svc.start();
  // Pages are rendered with this cursor so their event stream replays what they missed.
  hub.portalCursor = () => svc.events.cursor();
  app.addHook('onClose', async () => svc.close());
  await app.register(jobsApi(svc));
  await app.register(jobsPages(svc));
}
