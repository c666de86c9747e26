/**
 * reloadConfig against the real loader and a Swarm config (no Docker needed: only the config
 * swap is under test; the SIGHUP path through the real hub process is durability-sighup.test.ts).
 * The spawn form's image list changes for the next spawn, the running config object is replaced
 * rather than mutated, and keys that need a restart keep their running value.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/hub/config/loader.js';
import { reloadConfig } from '../../src/hub/reload.js';
import type { HubContext } from '../../src/hub/context.js';

const dir = mkdtempSync(join(tmpdir(), 'atrium-reload-'));
const file = join(dir, 'atrium.yaml');
const swarm = (images: string[], hubId = 'course') => `
hub: { stateDir: ${dir} }
spawner:
  kind: swarm
  swarm:
    dockerUrl: unix:///var/run/docker.sock
    hubId: ${hubId}
    images:
${images.map((i) => `      - image: ${i}`).join('\n')}
`;

describe('reloadConfig', () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('swaps in the new spawn form, keeps keys that need a restart, never mutates the old config', () => {
    writeFileSync(file, swarm(['nb:1']));
    const first = loadConfig(file);
    const lines: string[] = [];
    const log = pino({ level: 'info' }, { write: (l: string) => void lines.push(l) });
    const hub = { config: first, log, spawnerOptions: first.spawner.swarm } as unknown as HubContext;

    writeFileSync(file, swarm(['nb:1', 'nb-r:1'], 'other-hub'));
    const outcome = reloadConfig(hub, file);
    expect(outcome).toEqual({ ok: true, applied: ['spawner.swarm.images'], needsRestart: ['spawner.swarm.hubId'] });
    expect(hub.config).not.toBe(first);
    expect(Object.isFrozen(hub.config.spawner.swarm.images)).toBe(true);
    expect(hub.config.spawner.swarm.images.map((i) => i.image)).toEqual(['nb:1', 'nb-r:1']);
    expect((hub.spawnerOptions as typeof first.spawner.swarm).images).toHaveLength(2);
    expect(hub.config.spawner.swarm.hubId).toBe('course');
    expect(first.spawner.swarm.images).toHaveLength(1);
    expect(lines.some((l) => l.includes('"needsRestart":["spawner.swarm.hubId"]'))).toBe(true);

    writeFileSync(file, swarm(['nb:1']).replace('images:', 'imagez:'));
    const before = hub.config;
    expect(reloadConfig(hub, file).ok).toBe(false);
    expect(hub.config).toBe(before);
    expect(lines.at(-1)).toMatch(/config reload refused/);
    expect(lines.at(-1)).toMatch(/spawner\.swarm\.imagez/);
  });
});
