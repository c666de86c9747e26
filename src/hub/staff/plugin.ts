/**
 * The teaching-staff features as one fastify plugin (issue 13): the images and environments REST
 * APIs, warm starts, the staff page, and their two background loops (continuous preloads, warm
 * starts), which start when the app is ready and end when it closes.
 */
import type { FastifyInstance } from 'fastify';
import type { PreloadManager } from '../images/preload-manager.js';
import { setPreloads } from '../images/registry.js';
import { imagesApi } from '../images/api.js';
import { environmentsApi } from '../environments/api.js';
import { warmApi } from './api.js';
import { staffPages } from './page.js';
import { warmOf } from './warm.js';

export async function teachingStaff(app: FastifyInstance): Promise<void> {
  const hub = app.hub;
  let preloads: PreloadManager | null = null;
  if (hub.config.images?.enabled) {
    // Imported only when used: it pulls in dockerode (with ssh2 and protobufjs), ~20 MB and
    // ~0.2 s of every hub start that does not preload images (decision 0022).
    const { PreloadManager } = await import('../images/preload-manager.js');
    preloads = new PreloadManager(hub.stores.db, () => {
      const c = hub.config.images;
      return {
        endpoints: { managerUrl: c.dockerUrl, template: c.nodeEngineUrl, perNode: c.nodeEngines },
        registries: c.registries,
        pullTimeoutSeconds: c.pullTimeoutSeconds,
        jobFallback: c.jobFallback,
        owner: c.jobLabel,
      };
    }, hub.log.child({ component: 'images' }));
    setPreloads(hub, preloads);
  }
  await app.register(imagesApi);
  await app.register(environmentsApi);
  await app.register(warmApi);
  await app.register(staffPages);

  let tick: NodeJS.Timeout | null = null;
  app.addHook('onReady', async () => {
    warmOf(hub).startTimer((hub.config.staff?.warmCheckIntervalSeconds ?? 5) * 1000);
    if (preloads) {
      const p = preloads;
      // Remove jobs a dead predecessor left, carry on with preloads asked for before a restart,
      // then look for new nodes on a timer.
      void p.sweepJobs().then(() => p.tick());
      tick = setInterval(() => void p.tick(), hub.config.images.continuousIntervalSeconds * 1000);
      tick.unref();
    }
  });
  app.addHook('onClose', async () => {
    warmOf(hub).close();
    if (tick) clearInterval(tick);
    setPreloads(hub, null);
  });
}
