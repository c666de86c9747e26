/**
 * The Swarm spawner block the hub tests share: the test image running the real
 * jupyterhub-singleuser, published on 127.0.0.1 only, with short stop timeouts. Tests pass what
 * differs (mounts, limits, another image list) as overrides.
 */
import { TEST_IMAGE } from './docker.js';

export function swarmSingleuserSpawner(
  hubId: string,
  swarm: Record<string, unknown> = {},
  spawner: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    kind: 'swarm',
    notebookDir: '/home/jovyan',
    startTimeoutSeconds: 120,
    httpTimeoutSeconds: 90,
    ...spawner,
    swarm: {
      hubId,
      images: [{ image: TEST_IMAGE, name: 'Test notebook' }],
      command: ['jupyterhub-singleuser', '--allow-root'],
      hostBindAddress: '127.0.0.1',
      stopTimeoutSeconds: 3,
      ...swarm,
    },
  };
}
