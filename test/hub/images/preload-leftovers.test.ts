/**
 * Issue 13's leftovers against a real two-node Swarm (test/services/swarm-nodes.ts) and a real
 * Debian docker-registry with htpasswd auth. The hub has an engine endpoint for the manager only,
 * so the worker is reached the one way left: a Swarm job on it (decision 0021).
 *   - preload onto the node without an endpoint through a job; a missing image fails with the
 *     task's error; no job is left behind;
 *   - teaching staff prune only repositories of their own groups' environments, admins any;
 *   - a Swarm spawn pulls a private image with the login from images.registries; a wrong login
 *     fails with a hint that names the registry login on the pending page;
 *   - a one-off preload cut off by a hub restart (a real hub process, SIGTERM) resumes, the API
 *     and the CLI say so, and a preload job the dead hub left is removed;
 *   - the web shell into a Swarm server on the worker goes through that node's engine, and is
 *     refused with a clear message when the spawner has no endpoint for it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { Browser, startTestHub, type TestHub } from '../harness.js';
import { hubProcess, type HubProcess } from '../hub-process.js';
import { startPrivateSwarm, type PrivateSwarm } from '../../services/swarm-nodes.js';
import type { PreloadView } from '../../../src/hub/images/preload-manager.js';
import { Value } from '@sinclair/typebox/value';
import pino from 'pino';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SwarmSpawner, SwarmSpawnerOptions } from '../../../src/spawners/swarm/index.js';

const run = promisify(execFile);
const ROOT = new URL('../../../', import.meta.url).pathname;
const CAN_RUN = process.getuid?.() === 0 && existsSync('/usr/sbin/dockerd') && existsSync('/usr/bin/docker-registry');

describe.skipIf(!CAN_RUN)('preload leftovers on a real two-node Swarm', () => {
  let swarm: PrivateSwarm;
  let th: TestHub;
  let admin: string;
  let img: (repo: string, tag: string) => string;

  const get = async (t: { api: TestHub['api'] }, token: string, image: string): Promise<PreloadView> => {
    const res = await t.api('GET', `/images/preload?image=${encodeURIComponent(image)}`, { token });
    expect(res.status).toBe(200);
    return (await res.json()) as PreloadView;
  };
  const preloadJobs = async () => (await swarm.manager.docker(['service', 'ls', '-q', '--filter', 'label=atrium.preload'])).split('\n').filter(Boolean);

  const hubConfig = (hubId: string, password: string, image = img('course/private', '1')) => ({
    images: {
      enabled: true,
      dockerUrl: `unix://${swarm.manager.socket}`,
      // The manager only: the worker has no endpoint.
      nodeEngines: { [swarm.manager.hostname]: `unix://${swarm.manager.socket}` },
      registries: [{ host: swarm.registry, username: swarm.registryUser, password }],
      continuousIntervalSeconds: 1,
      jobLabel: hubId,
    },
    staff: { teachingStaff: [{ users: ['teach'], groups: ['course-x'] }] },
    spawner: {
      kind: 'swarm',
      startTimeoutSeconds: 60,
      swarm: {
        dockerUrl: `unix://${swarm.manager.socket}`,
        hubId,
        images: [{ image }],
        // The tiny image has no notebook server: a running container is what these tests need.
        command: ['/bin/sleep', '600'],
        hostBindAddress: '127.0.0.1',
        stopTimeoutSeconds: 1,
      },
    },
  });

  beforeAll(async () => {
    swarm = await startPrivateSwarm({ nodes: 2 });
    img = (repo: string, tag: string) => `${swarm.registry}/${repo}:${tag}`;
    await Promise.all([
      swarm.pushImage(img('course/tiny', '1'), 2 << 20),
      swarm.pushImage(img('course/tiny', '2')),
      swarm.pushImage(img('course/other', '1')),
      swarm.pushImage(img('course/private', '1')),
      // Never pulled by anything before the wrong-login test (a node that has an image runs it whatever the login).
      swarm.pushImage(img('course/secret', '1')),
    ]);
    // Big enough that a pull is still going when the hub is stopped right after asking for it.
    await swarm.pushImage(img('course/big', '1'), 48 << 20);
    th = await startTestHub(hubConfig('leftovers', swarm.registryPassword));
    admin = th.token('admin');
  }, 300_000);

  afterAll(async () => {
    await th?.teardown();
    await swarm?.stop();
  }, 120_000);

  it('preloads onto a node without an engine endpoint through a Swarm job, and removes the job', async () => {
    const image = img('course/tiny', '1');
    expect((await th.api('POST', '/images/preloads', { token: admin, body: { images: [image] } })).status).toBe(202);
    const worker = swarm.nodes[1]!;
    const seen = new Set<string>();
    const deadline = Date.now() + 90_000;
    let p: PreloadView;
    for (;;) {
      p = await get(th, admin, image);
      const w = p.nodes.find((n) => n.hostname === worker.hostname);
      if (w) seen.add(`${w.status}: ${w.message}`);
      if (p.finished) break;
      if (Date.now() > deadline) throw new Error(`never finished: ${JSON.stringify(p)}`);
      await sleep(100);
    }
    expect(p.complete).toBe(true);
    expect(p.ready).toBe(2);
    const w = p.nodes.find((n) => n.hostname === worker.hostname)!;
    expect(w).toMatchObject({ status: 'done', message: 'pulled through a Swarm job' });
    expect([...seen].some((s) => /^pulling: through a Swarm job \(no engine endpoint\): task (preparing|assigned|pending|accepted|new)/.test(s))).toBe(true);
    // The worker's own engine has it, pulled with the configured login; the job is gone.
    expect(await worker.docker(['image', 'inspect', '--format', '{{.Size}}', image])).toMatch(/^\d+$/);
    expect(await preloadJobs()).toEqual([]);

    // An image the registry does not have: the worker's line carries the task's error.
    const missing = img('course/tiny', 'no-such-tag');
    await th.api('POST', '/images/preloads', { token: admin, body: { images: [missing] } });
    const deadline2 = Date.now() + 90_000;
    while (!(p = await get(th, admin, missing)).finished) {
      if (Date.now() > deadline2) throw new Error(`never finished: ${JSON.stringify(p)}`);
      await sleep(200);
    }
    const wf = p.nodes.find((n) => n.hostname === worker.hostname)!;
    expect(wf.status).toBe('failed');
    expect(wf.message).toMatch(/^Swarm job: .*(No such image|not found|manifest unknown)/i);
    expect(await preloadJobs()).toEqual([]);
    // eslint-disable-next-line no-console
    console.log(`worker states: ${[...seen].join(' | ')}\nmissing image on the worker: ${wf.message}`);
  }, 180_000);

  it('teaching staff prune only repositories their own groups\' environments use; admins any', async () => {
    for (const u of ['s1', 's2', 's3']) th.token(u);
    expect((await th.api('POST', '/groups/course-x', { token: admin, body: { users: ['s1'] } })).status).toBe(201);
    expect((await th.api('POST', '/groups/course-y', { token: admin, body: { users: ['s2'] } })).status).toBe(201);
    const teach = th.token('teach');
    expect((await th.api('POST', '/environments', { token: teach, body: { name: 'tiny', image: img('course/tiny', '2'), groups: ['course-x'] } })).status).toBe(201);
    expect((await th.api('POST', '/environments', { token: admin, body: { name: 'other', image: img('course/other', '1'), groups: ['course-y'] } })).status).toBe(201);
    // An environment shared with a group they do not teach does not count either.
    expect((await th.api('POST', '/environments', { token: admin, body: { name: 'shared', image: img('course/big', '1'), groups: ['course-x', 'course-y'] } })).status).toBe(201);

    const manager = swarm.manager;
    await manager.docker(['pull', img('course/other', '1')]);
    for (const image of [img('course/other', '1'), img('course/big', '1')]) {
      const res = await th.api('POST', '/images/prune', { token: teach, body: { image } });
      expect(res.status, image).toBe(403);
      expect(((await res.json()) as { message: string }).message).toContain('You may prune only repositories that environments of your course groups use');
    }
    // Nothing was touched by the refusals.
    expect(await manager.docker(['image', 'ls', '--format', '{{.Repository}}:{{.Tag}}'])).toContain(img('course/other', '1'));

    // Their own repository: allowed (tiny:1, preloaded above, goes; tiny:2 is the one kept).
    const mine = await th.api('POST', '/images/prune', { token: teach, body: { image: img('course/tiny', '2') } });
    expect(mine.status).toBe(200);
    const nodes = ((await mine.json()) as { nodes: { hostname: string; removed: string[] }[] }).nodes;
    expect(nodes.find((n) => n.hostname === manager.hostname)!.removed).toContain(img('course/tiny', '1'));

    // An admin may prune any repository: course/other keeps only a tag that does not exist, so 1 goes.
    const adm = await th.api('POST', '/images/prune', { token: admin, body: { image: img('course/other', '9') } });
    expect(adm.status).toBe(200);
    expect(((await adm.json()) as { nodes: { hostname: string; removed: string[] }[] }).nodes.find((n) => n.hostname === manager.hostname)!.removed)
      .toContain(img('course/other', '1'));
  }, 120_000);

  it('a Swarm spawn pulls a private image with the login from images.registries', async () => {
    const res = await th.api('POST', '/users/s1/server', { token: admin });
    expect([201, 202]).toContain(res.status);
    const deadline = Date.now() + 90_000;
    let states = '';
    for (;;) {
      states = await swarm.manager.docker(['service', 'ps', '--filter', 'desired-state=running', '--format', '{{.CurrentState}} {{.Error}}',
        ...(await swarm.manager.docker(['service', 'ls', '-q', '--filter', 'label=atrium.hub=leftovers'])).split('\n').filter(Boolean)]).catch(() => '');
      if (/^Running/m.test(states)) break;
      if (Date.now() > deadline) throw new Error(`the private image never ran: ${states}`);
      await sleep(500);
    }
    expect(th.running.hub.spawns.get('s1', '')?.phase).toBe('spawn');
    await th.api('DELETE', '/users/s1/server', { token: admin });
  }, 120_000);

  it('a wrong registry login fails the spawn with a hint naming the login, on the pending page', async () => {
    const bad = await startTestHub(hubConfig('leftovers-bad', 'not-the-password', img('course/secret', '1')));
    try {
      const b = new Browser(bad.url);
      await b.login('s3');
      const start = await b.request('GET', '/hub/spawn');
      expect(start.status).toBeLessThan(400);
      const deadline = Date.now() + 90_000;
      let html = '';
      for (;;) {
        html = await (await b.request('GET', '/hub/spawn-pending/s3')).text();
        if (html.includes('could not log in')) break;
        if (Date.now() > deadline) throw new Error(`no login hint: ${html.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').slice(-1500)}`);
        await sleep(500);
      }
      expect(html).toContain(`The registry ${swarm.registry} refused the login for ${img('course/secret', '1')} (user ${swarm.registryUser})`);
      expect(html).toContain('images.registries');
      expect(html).not.toContain('not-the-password');
    } finally {
      await bad.teardown();
    }
  }, 150_000);

  it('a one-off preload cut off by a hub restart resumes; the API and the CLI say so; a dead hub\'s job is removed', async () => {
    const image = img('course/big', '1');
    const cfg = hubConfig('resume-test', swarm.registryPassword);
    const hp: HubProcess = await hubProcess({ ...cfg, spawner: { kind: 'local', local: { cmd: ['true'] } } });
    try {
      await hp.start();
      const token = hp.token('admin');
      const res = await hp.api('POST', '/images/preloads', { token, body: { images: [image] } });
      expect(res.status).toBe(202);
      await hp.kill('SIGTERM');
      const db = hp.db();
      const row = db.prepare('SELECT finished, resumed FROM image_preloads WHERE image = ?').get(image) as { finished: string | null; resumed: string | null };
      db.close();
      expect(row).toEqual({ finished: null, resumed: null });
      // A preload job "left" by the dead hub (its label), to be removed at the next start.
      await swarm.manager.docker(['service', 'create', '-d', '--with-registry-auth', '--name', 'left-by-dead-hub', '--label', 'atrium.preload=resume-test',
        '--network', 'host', '--constraint', `node.hostname==${swarm.manager.hostname}`, img('course/tiny', '2'), '/bin/sleep', '600']);

      await hp.start();
      const deadline = Date.now() + 120_000;
      let p: PreloadView;
      while (!(p = await get(hp, token, image)).finished) {
        if (Date.now() > deadline) throw new Error(`never finished after the restart: ${JSON.stringify(p)}`);
        await sleep(250);
      }
      expect(p.resumed).not.toBeNull();
      expect(p.complete).toBe(true);
      expect(p.ready).toBe(2);
      for (const n of swarm.nodes) expect(await n.docker(['image', 'inspect', '--format', '{{.Size}}', image])).toMatch(/^\d+$/);
      const out = await run('node', [`${ROOT}dist/cli.js`, 'images', 'status', image], {
        env: { ...process.env, ATRIUM_API_TOKEN: token, ATRIUM_HUB_URL: `${hp.url}/hub/` },
      });
      expect(out.stdout).toContain(`${image}: ready on 2/2 nodes (resumed after a hub restart at ${p.resumed})`);
      expect(await swarm.manager.docker(['service', 'ls', '-q', '--filter', 'name=left-by-dead-hub'])).toBe('');
      expect(hp.output()).toContain('removed jobs a previous hub left behind');
    } finally {
      await hp.teardown();
      await swarm.manager.docker(['service', 'rm', 'left-by-dead-hub']).catch(() => undefined);
    }
  }, 240_000);

  it('a shell into a server on the worker goes through that node\'s engine; without an endpoint it is refused clearly', async () => {
    // An image with a shell: dash as /bin/sh, plus sleep, and the C library they need.
    const root = join(swarm.dir, 'shell-rootfs');
    for (const d of ['bin', 'lib/x86_64-linux-gnu', 'lib64']) mkdirSync(join(root, d), { recursive: true });
    writeFileSync(join(root, 'bin/sh'), readFileSync('/bin/dash'), { mode: 0o755 });
    writeFileSync(join(root, 'bin/sleep'), readFileSync('/bin/sleep'), { mode: 0o755 });
    writeFileSync(join(root, 'lib/x86_64-linux-gnu/libc.so.6'), readFileSync('/lib/x86_64-linux-gnu/libc.so.6'), { mode: 0o755 });
    writeFileSync(join(root, 'lib64/ld-linux-x86-64.so.2'), readFileSync('/lib64/ld-linux-x86-64.so.2'), { mode: 0o755 });
    await run('tar', ['-C', root, '-cf', `${root}.tar`, '.']);
    const image = img('course/shell', '1');
    await swarm.manager.docker(['import', '--change', 'CMD ["/bin/sleep", "3600"]', `${root}.tar`, image]);
    await swarm.manager.docker(['push', image]);
    rmSync(root, { recursive: true, force: true });
    rmSync(`${root}.tar`, { force: true });

    const worker = swarm.nodes[1]!;
    await swarm.manager.docker(['service', 'create', '-d', '--with-registry-auth', '--name', 'shell-on-worker', '--network', 'host',
      '--constraint', `node.hostname==${worker.hostname}`, image]);
    try {
      const id = await swarm.manager.docker(['service', 'inspect', '--format', '{{.ID}}', 'shell-on-worker']);
      const deadline = Date.now() + 60_000;
      while (!/^Running/m.test(await swarm.manager.docker(['service', 'ps', '--format', '{{.CurrentState}}', id]))) {
        if (Date.now() > deadline) throw new Error('the worker never ran the shell image');
        await sleep(300);
      }
      const spawner = (template: string) => {
        const options = Value.Default(SwarmSpawnerOptions, { dockerUrl: `unix://${swarm.manager.socket}`, pullProgressEngineUrl: template }) as SwarmSpawnerOptions;
        const sp = new SwarmSpawner(options, { name: 's1', admin: false, groups: [] }, '', pino({ level: 'silent' }));
        sp.restore({ serviceId: id });
        return sp;
      };
      const opts = { cols: 80, rows: 24, signal: new AbortController().signal };
      await expect(spawner('').shell(opts)).rejects.toThrow(`The shell cannot reach node ${worker.hostname}, where this server runs: the hub has no engine endpoint for it`);

      const session = await spawner(swarm.engineTemplate).shell(opts);
      let out = '';
      session.onData((b) => (out += b.toString()));
      session.write(Buffer.from('read h < /proc/sys/kernel/hostname; echo hi-$((40+2)) $h\n'));
      const until = Date.now() + 20_000;
      while (!out.includes('hi-42') && Date.now() < until) await sleep(100);
      session.close();
      // The shell ran in the container on the worker (its UTS namespace is the worker's: host networking).
      expect(out).toContain(`hi-42 ${worker.hostname}`);
      expect(session.description).toMatch(/^container [0-9a-f]{12}$/);
    } finally {
      await swarm.manager.docker(['service', 'rm', 'shell-on-worker']).catch(() => undefined);
    }
  }, 120_000);
});
