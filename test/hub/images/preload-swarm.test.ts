/**
 * Image preloading against a real two-node Docker Swarm (test/services/swarm-nodes.ts: a manager
 * and a worker, each a dockerd in its own network namespace) and a real Debian docker-registry
 * with htpasswd auth: per-node progress through the hub API, the CLI and the staff page in
 * Chromium; a node that joins later gets the image in continuous mode; a drained node is
 * reported, not waited for; pruning keeps the version a running container uses.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium, type Browser } from 'playwright-core';
import { startTestHub, type TestHub } from '../harness.js';
import { startPrivateSwarm, type PrivateSwarm } from '../../services/swarm-nodes.js';
import type { PreloadView } from '../../../src/hub/images/preload-manager.js';

const run = promisify(execFile);
const ROOT = new URL('../../../', import.meta.url).pathname;
const CAN_RUN = process.getuid?.() === 0 && existsSync('/usr/sbin/dockerd') && existsSync('/usr/bin/docker-registry');
const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'];

describe.skipIf(!CAN_RUN)('preloading images onto a real two-node Swarm', () => {
  let swarm: PrivateSwarm;
  let th: TestHub;
  let admin: string;
  let img: (tag: string) => string;

  const preload = async (image: string): Promise<PreloadView> => {
    const res = await th.api('GET', `/images/preload?image=${encodeURIComponent(image)}`, { token: admin });
    expect(res.status).toBe(200);
    return (await res.json()) as PreloadView;
  };
  const until = async (image: string, ok: (p: PreloadView) => boolean, what: string, ms = 60_000): Promise<PreloadView> => {
    const deadline = Date.now() + ms;
    for (;;) {
      const p = await preload(image);
      if (ok(p)) return p;
      if (Date.now() > deadline) throw new Error(`${what}: ${JSON.stringify(p)}`);
      await sleep(250);
    }
  };

  beforeAll(async () => {
    swarm = await startPrivateSwarm({ nodes: 1 });
    img = (tag: string) => `${swarm.registry}/course/tiny:${tag}`;
    // v2 carries 24 MB of random data, so a pull takes long enough to be seen in progress.
    await Promise.all([swarm.pushImage(img('0')), swarm.pushImage(img('1'))]);
    await swarm.pushImage(img("2"), 24 << 20);
    th = await startTestHub({
      images: {
        enabled: true,
        dockerUrl: `unix://${swarm.manager.socket}`,
        nodeEngineUrl: swarm.engineTemplate,
        registries: [{ host: swarm.registry, username: swarm.registryUser, password: swarm.registryPassword }],
        continuousIntervalSeconds: 1,
      },
    });
    admin = th.token('admin');
  }, 240_000);

  afterAll(async () => {
    await th?.teardown();
    await swarm?.stop();
  }, 120_000);

  it('refuses bad references and callers without the images scope', async () => {
    const bad = await th.api('POST', '/images/preloads', { token: admin, body: { images: ['Not An Image!!'] } });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { message: string }).message).toMatch(/not an image reference/);
    const user = await th.api('POST', '/images/preloads', { token: th.token('student'), body: { images: [img('1')] } });
    expect(user.status).toBe(403);
  });

  it('preloads onto the one node, then onto a node that joins later (continuous), with per-node progress', async () => {
    const res = await th.api('POST', '/images/preloads', { token: admin, body: { images: [img('2')], continuous: true } });
    expect(res.status).toBe(202);
    const one = await until(img('2'), (p) => p.complete, 'first node');
    expect(one.nodes.map((n) => [n.hostname, n.status])).toEqual([[swarm.manager.hostname, 'done']]);
    expect(one.nodes[0]!.bytesTotal).toBeGreaterThan(24 << 20);

    const worker = await swarm.addNode();
    const seen = new Set<string>();
    const deadline = Date.now() + 60_000;
    let last: PreloadView;
    for (;;) {
      last = await preload(img('2'));
      const w = last.nodes.find((n) => n.hostname === worker.hostname);
      if (w) seen.add(w.status === 'pulling' && w.bytesDone > 0 ? 'pulling-bytes' : w.status);
      if (last.complete && last.total === 2) break;
      if (Date.now() > deadline) throw new Error(`worker never got the image: ${JSON.stringify(last)}`);
      await sleep(100);
    }
    expect(last.ready).toBe(2);
    expect(seen.has('done')).toBe(true);
    // The image is really on the worker's engine, pulled through the registry with the configured login.
    expect(await worker.docker(['image', 'inspect', '--format', '{{.Size}}', img('2')])).toMatch(/^\d+$/);
    // eslint-disable-next-line no-console
    console.log(`worker states seen while pulling: ${[...seen].join(', ')}`);
  }, 120_000);

  it('the CLI shows the same state and waits until every schedulable node has the image', async () => {
    const out = await run('node', [`${ROOT}dist/cli.js`, 'images', 'preload', img('1'), '--wait', '--timeout', '60'], {
      env: { ...process.env, ATRIUM_API_TOKEN: admin, ATRIUM_HUB_URL: `${th.url}/hub/` },
      timeout: 90_000,
    });
    for (const n of swarm.nodes) expect(out.stdout).toContain(`${n.hostname}`);
    expect(out.stdout).toContain(`${img('1')}: ready on 2/2 nodes`);
  }, 120_000);

  it('reports a drained node instead of waiting for it', async () => {
    const worker = swarm.nodes[1]!;
    await swarm.manager.docker(['node', 'update', '--availability', 'drain', worker.hostname]);
    try {
      await th.api('POST', '/images/preloads', { token: admin, body: { images: [img('0')] } });
      const p = await until(img('0'), (x) => x.complete, 'drained');
      expect(p.total).toBe(1);
      const w = p.nodes.find((n) => n.hostname === worker.hostname)!;
      expect(w.status).toBe('skipped');
      expect(w.message).toContain('availability drain');
    } finally {
      await swarm.manager.docker(['node', 'update', '--availability', 'active', worker.hostname]);
    }
  }, 60_000);

  it('prunes other versions except the one a running container uses', async () => {
    // A running session stand-in on the manager: a service using v1.
    await swarm.manager.docker(['service', 'create', '-d', '--with-registry-auth', '--name', 'session-v1', '--network', 'host',
      '--constraint', `node.hostname==${swarm.manager.hostname}`, img('1'), '/bin/sleep', '600']);
    const deadline = Date.now() + 30_000;
    while (!(await swarm.manager.docker(['ps', '--filter', `ancestor=${img('1')}`, '-q']))) {
      if (Date.now() > deadline) throw new Error('session container never ran');
      await sleep(300);
    }
    const res = await th.api('POST', '/images/prune', { token: admin, body: { image: img('2') } });
    expect(res.status).toBe(200);
    const { nodes } = (await res.json()) as { nodes: { hostname: string; removed: string[]; kept: { image: string; why: string }[] }[] };
    const mgr = nodes.find((n) => n.hostname === swarm.manager.hostname)!;
    expect(mgr.removed).toContain(img('0'));
    expect(mgr.kept).toContainEqual({ image: img('1'), why: 'a container on this node uses it' });
    const wrk = nodes.find((n) => n.hostname === swarm.nodes[1]!.hostname)!;
    expect(wrk.removed).toContain(img('1')); // nothing runs v1 there
    expect(await swarm.manager.docker(['image', 'ls', '--format', '{{.Repository}}:{{.Tag}}'])).not.toContain(img('0'));
    expect(await swarm.manager.docker(['image', 'ls', '--format', '{{.Repository}}:{{.Tag}}'])).toContain(img('2'));
    await swarm.manager.docker(['service', 'rm', 'session-v1']);
  }, 60_000);

  it.skipIf(!existsSync(CHROMIUM))('the staff page shows per-node preload progress (Chromium)', async () => {
    const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, timeout: 60_000 });
    try {
      const page = await browser.newPage();
      page.setDefaultTimeout(30_000);
      await page.goto(`${th.url}/hub/login`);
      await page.fill('#username', 'admin');
      await page.fill('#password', 'x');
      await Promise.all([page.waitForNavigation(), page.click('#login_submit')]);
      await page.goto(`${th.url}/hub/staff`);
      const row = page.locator(`tr[data-image="${img('2')}"]`);
      await row.locator('.ready').filter({ hasText: 'ready on 2/2 nodes' }).waitFor();
      for (const n of swarm.nodes) await row.locator(`li[data-node="${n.hostname}"][data-status="done"]`).waitFor();
      // A preload asked for from the page shows up in the same table (one state source).
      await page.fill('#images', img('0'));
      await Promise.all([page.waitForNavigation(), page.click('form[action$="staff/preload"] button')]);
      await page.locator(`tr[data-image="${img('0')}"] .ready`).filter({ hasText: 'ready on 2/2 nodes' }).waitFor();
    } finally {
      await browser.close();
    }
  }, 90_000);
});
