/**
 * The catalogue on the spawn path with the Swarm kind's real parseOptions: an offered environment
 * decides image, resources and mounts (whatever the request says); outside its window or for
 * another group it is refused; stored options naming an environment are re-checked. Plus the image
 * reference rules and the "images of running sessions" set that pruning keeps.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Value } from '@sinclair/typebox/value';
import { openStores } from '../../../src/hub/db/index.js';
import { SpawnManager } from '../../../src/hub/spawn/manager.js';
import type { SpawnDeps } from '../../../src/hub/spawn/deps.js';
import { swarmSpawnerKind, SwarmSpawnerOptions } from '../../../src/spawners/swarm/index.js';
import { environmentsOf, checkDefinition } from '../../../src/hub/environments/catalogue.js';
import { parseImageRef } from '../../../src/hub/images/refs.js';
import { imagesInUse } from '../../../src/hub/images/registry.js';
import { parseConfig } from '../../../src/hub/config/loader.js';
import { hasCode } from '../../../src/shared/errors.js';
import type { HubContext } from '../../../src/hub/context.js';

const dir = mkdtempSync(join(tmpdir(), 'atrium-env-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function setup() {
  const stores = openStores(join(dir, `${Math.random()}.sqlite`));
  const spawnerOptions = Value.Default(SwarmSpawnerOptions, { images: [{ image: 'admin/base:1' }], maxCpuLimit: 2 });
  const config = parseConfig('{}', 'atrium.yaml', {});
  const deps = { stores, config, spawnerKind: swarmSpawnerKind, spawnerOptions, log: pino({ level: 'silent' }) } as unknown as SpawnDeps;
  const manager = new SpawnManager(deps);
  const { user: s1 } = stores.users.ensure('s1');
  const { user: s3 } = stores.users.ensure('s3');
  const gx = stores.groups.create('course-x');
  stores.groups.addMember(gx.id, s1.id);
  const envs = environmentsOf(stores.db);
  const hour = 3600_000;
  envs.create(checkDefinition({
    name: 'py', image: 'reg.example:5000/course/py:3', cpu: 8, memory: '2G', groups: ['course-x'],
    mounts: [{ type: 'volume', source: 'course-x-data', target: '/data', readOnly: true }],
    startsAt: new Date(Date.now() - hour).toISOString(), endsAt: new Date(Date.now() + hour).toISOString(),
  }, { mayBind: false }), 'teach');
  envs.create(checkDefinition({ name: 'later', image: 'reg.example:5000/course/py:4', groups: ['course-x'], startsAt: new Date(Date.now() + hour).toISOString() }, { mayBind: false }), 'teach');
  return { stores, manager, s1, s3 };
}

describe('environments on the spawn path (Swarm kind)', () => {
  it('an offered environment decides image, resources and mounts; the request cannot add any', () => {
    const { manager, s1 } = setup();
    const out = manager.parseOptions(s1, {
      environment: 'py', image: 'evil/miner:1', cpu: 64,
      environmentMounts: [{ type: 'bind', source: '/', target: '/host' }],
    });
    expect(out.image).toBe('reg.example:5000/course/py:3');
    expect(out.cpuLimit).toBe(2); // the admin maximum still clamps the environment's 8
    expect(out.memoryLimitBytes).toBe(2 * 1024 ** 3);
    expect(out.environment).toBe('py');
    expect(out.environmentMounts).toEqual([{ type: 'volume', source: 'course-x-data', target: '/data', readOnly: true, driverOptions: {}, ephemeral: false }]);
    // Without an environment, the admin list rules as before.
    expect(() => manager.parseOptions(s1, { image: 'reg.example:5000/course/py:3' })).toThrow(/not one of the offered images/);
    expect(manager.parseOptions(s1, { image: 'admin/base:1', environmentMounts: [{ type: 'bind', source: '/', target: '/h' }] })).toEqual({ image: 'admin/base:1' });
  });

  it('refuses an environment before its window, for another group, or unknown — all alike', () => {
    const { manager, s1, s3 } = setup();
    for (const [user, env] of [[s1, 'later'], [s3, 'py'], [s1, 'nope'], [s1, 42]] as const) {
      let err: unknown;
      try { manager.parseOptions(user, { environment: env }); } catch (e) { err = e; }
      expect(hasCode(err, 'ATRIUM_ERR_ENV_NOT_AVAILABLE'), String(env)).toBe(true);
      expect((err as { statusCode: number }).statusCode).toBe(403);
    }
  });

  it('checks definitions field by field', () => {
    const bad = (input: Record<string, unknown>, mayBind = false) => {
      try { checkDefinition(input, { mayBind }); } catch (e) { return (e as Error).message; }
      return 'accepted';
    };
    expect(bad({ name: 'Bad Name', image: 'x:1' })).toMatch(/^name:/);
    expect(bad({ name: 'ok', image: 'UPPER/case' })).toMatch(/^image:/);
    expect(bad({ name: 'ok', image: 'x:1', memory: 'lots' })).toMatch(/^memory:/);
    expect(bad({ name: 'ok', image: 'x:1', startsAt: '2026-02-01T00:00:00Z', endsAt: '2026-01-01T00:00:00Z' })).toMatch(/^endsAt:/);
    expect(bad({ name: 'ok', image: 'x:1', users: ['a/b'] })).toMatch(/^users:/);
    expect(bad({ name: 'ok', image: 'x:1', mounts: [{ type: 'bind', source: '/srv', target: '/srv' }] })).toMatch(/administrators/);
    expect(bad({ name: 'ok', image: 'x:1', mounts: [{ type: 'bind', source: '/srv', target: '/srv' }] }, true)).toBe('accepted');
  });

  it('placement constraints: Swarm syntax, set by administrators only, carried to the spawn', () => {
    const bad = (input: Record<string, unknown>, mayBind = true, base?: Parameters<typeof checkDefinition>[1]['base']) => {
      try { checkDefinition(input, { mayBind, base }); } catch (e) { return hasCode(e, 'ATRIUM_ERR_ENV_INVALID') ? (e as Error).message : `wrong error ${String(e)}`; }
      return 'accepted';
    };
    expect(bad({ name: 'g', image: 'x:1', constraints: ['node.labels.gpu==true', 'node.role != manager'] })).toBe('accepted');
    expect(bad({ name: 'g', image: 'x:1', constraints: ['node.labels.gpu'] })).toMatch(/^constraints: .*needs == or !=/);
    expect(bad({ name: 'g', image: 'x:1', constraints: ['node.labels.gpu==a;b'] })).toMatch(/not a valid value/);
    expect(bad({ name: 'g', image: 'x:1', constraints: 'node.labels.gpu==true' })).toMatch(/^constraints: must be a list/);
    expect(bad({ name: 'g', image: 'x:1', constraints: ['node.labels.gpu==true'] }, false)).toMatch(/only administrators/);
    // Staff editing an environment keep what an administrator set.
    const { stores, manager, s1 } = setup();
    const envs = environmentsOf(stores.db);
    const gpu = envs.create(checkDefinition({ name: 'gpu', image: 'reg.example:5000/course/gpu:1', groups: ['course-x'], constraints: ['node.labels.gpu==true'] }, { mayBind: true }), 'admin');
    expect(gpu.constraints).toEqual(['node.labels.gpu==true']);
    expect(bad({ description: 'new words' }, false, gpu)).toBe('accepted');
    expect(bad({ constraints: [] }, false, gpu)).toMatch(/only administrators/);
    const out = manager.parseOptions(s1, { environment: 'gpu', environmentConstraints: ['node.id==other'] });
    expect(out.environmentConstraints).toEqual(['node.labels.gpu==true']);
    // A request without an environment cannot bring its own.
    expect(manager.parseOptions(s1, { image: 'admin/base:1', environmentConstraints: ['node.id==x'] })).toEqual({ image: 'admin/base:1' });
  });
});

describe('image references', () => {
  it('splits registry, repository and tag, and refuses what Docker would', () => {
    expect(parseImageRef('127.0.0.1:5000/course/tiny:2')).toMatchObject({ registry: '127.0.0.1:5000', repository: '127.0.0.1:5000/course/tiny', tag: '2' });
    expect(parseImageRef('python')).toMatchObject({ ref: 'python:latest', registry: 'docker.io', repository: 'python' });
    expect(parseImageRef('quay.io/jupyter/base-notebook:2024-10-07')).toMatchObject({ registry: 'quay.io', tag: '2024-10-07' });
    expect(parseImageRef('jupyter/base@sha256:' + 'a'.repeat(64))).toMatchObject({ tag: null, digest: 'sha256:' + 'a'.repeat(64) });
    for (const bad of ['', 'Has Space', 'UPPER', 'a//b', '../x', 'x:', 'x:tag with space', 'a'.repeat(400), 42]) {
      expect(() => parseImageRef(bad), String(bad)).toThrow();
    }
  });

  it('the registry password comes from the environment (${VAR} in the config file)', () => {
    const cfg = parseConfig('images:\n  enabled: true\n  registries:\n    - host: reg.example:5000\n      username: course\n      password: ${REG_PASSWORD}\n', 'atrium.yaml', { REG_PASSWORD: 's3cret' });
    expect(cfg.images.registries[0]!.password).toBe('s3cret');
  });

  it('pruning keeps images of running and starting sessions (from the database)', () => {
    const { stores, s1, s3 } = setup();
    const a = stores.servers.ensure(s1.id, '');
    stores.servers.update(a.id, { status: 'running', user_options: JSON.stringify({ image: 'reg/x:1' }) });
    const b = stores.servers.ensure(s3.id, '');
    stores.servers.update(b.id, { status: 'stopped', user_options: JSON.stringify({ image: 'reg/x:0' }) });
    expect([...imagesInUse({ stores } as unknown as HubContext)]).toEqual(['reg/x:1']);
  });
});
