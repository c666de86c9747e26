/**
 * Pull progress on the spawn page (issue 13 item 4), against a real private Swarm
 * (test/services/swarm-nodes.ts) and a real registry: a server whose image is not on the node it
 * lands on shows "Pulling IMAGE onto NODE: x of y MB" among its progress events, with rising bytes;
 * one whose image is already there does not.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { Value } from '@sinclair/typebox/value';
import pino from 'pino';
import { startPrivateSwarm, type PrivateSwarm } from '../services/swarm-nodes.js';
import { SwarmSpawner, SwarmSpawnerOptions } from '../../src/spawners/swarm/index.js';
import type { ProgressEvent, SpawnContext } from '../../src/spawners/spawner.js';

const CAN_RUN = process.getuid?.() === 0 && existsSync('/usr/sbin/dockerd') && existsSync('/usr/bin/docker-registry');

describe.skipIf(!CAN_RUN)('Swarm spawner: pull progress when the image is not on the node', () => {
  let swarm: PrivateSwarm;
  let image: string;

  beforeAll(async () => {
    swarm = await startPrivateSwarm({ nodes: 1, auth: false });
    image = `${swarm.registry}/course/big:1`;
    await swarm.pushImage(image, 48 << 20);
  }, 180_000);
  afterAll(async () => { await swarm?.stop(); }, 60_000);

  async function spawnAndWatch(user: string): Promise<ProgressEvent[]> {
    const options = Value.Default(SwarmSpawnerOptions, {
      dockerUrl: `unix://${swarm.manager.socket}`,
      hubId: 'atrium-pulltest',
      images: [{ image }],
      command: ['/bin/sleep', '600'],
      hostBindAddress: '127.0.0.1',
      pullProgressEngineUrl: swarm.engineTemplate,
    }) as SwarmSpawnerOptions;
    const log = pino({ level: 'silent' });
    const sp = new SwarmSpawner(options, { name: user, admin: false, groups: [] }, '', log);
    const abort = new AbortController();
    const ctx: SpawnContext = {
      user: { name: user, admin: false, groups: [] }, serverName: '', env: {}, userOptions: { image }, authState: null,
      baseUrl: `/user/${user}/`, log, signal: abort.signal, ownerTag: `pulltest:${user}`, recordHandle: () => undefined,
    };
    const events: ProgressEvent[] = [];
    // start() opens a fresh progress channel synchronously: read it after the call.
    const started = sp.start(ctx).catch(() => undefined);
    const reading = (async () => { for await (const ev of sp.progress()) events.push(ev); })();
    // The tiny image runs sleep and never listens: stop once the container runs.
    const deadline = Date.now() + 60_000;
    while (!events.some((e) => e.message.startsWith('Container running')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    abort.abort('test done');
    await started;
    await sp.stop();
    await Promise.race([reading, new Promise((r) => setTimeout(r, 2000))]);
    return events;
  }

  it('shows the bytes of the pull on the chosen node, then nothing extra once the image is there', async () => {
    const first = await spawnAndWatch('pull-a');
    const pulls = first.filter((e) => e.message.startsWith(`Pulling ${image} onto ${swarm.manager.hostname}:`));
    expect(first.map((e) => e.message)).toContain(`Image ${image} is on ${swarm.manager.hostname}`);
    // eslint-disable-next-line no-console
    console.log(pulls.map((e) => `${e.progress}% ${e.message}`).join('\n'));
    expect(pulls.length).toBeGreaterThan(0);
    for (const e of pulls) expect(e.message).toMatch(/: \d+\.\d of \d+\.\d MB$/);
    expect(first.map((e) => e.progress)).toEqual([...first.map((e) => e.progress)].sort((a, b) => a - b));

    const second = await spawnAndWatch('pull-b');
    expect(second.some((e) => e.message.startsWith('Pulling'))).toBe(false);
  }, 150_000);
});
