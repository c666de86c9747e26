/**
 * The web shell into a Swarm session: the real jupyterhub-singleuser in a Swarm service on the
 * test engine, Chromium types `echo $((6*7))` into xterm.js through atrium-proxy and sees 42; the
 * shell runs inside the service's container (docker exec with a TTY), without the server's token,
 * and closing the page's socket ends the exec'd shell.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser as Chromium } from 'playwright-core';
import { acquireDocker, docker, removeLeftovers, type DockerHandle } from '../../services/docker.js';
import { swarmSingleuserSpawner } from '../../services/swarm-spawner-config.js';
import { Browser, startTestHub, waitFor, type TestHub } from '../harness.js';
import { openShell, shellPage } from './shell-client.js';
import { CHROMIUM, CHROMIUM_ARGS, chromiumShell } from './chromium.js';

const hubId = `h${randomBytes(4).toString('hex')}`;

describe.skipIf(!existsSync(CHROMIUM))('web shell into a Swarm session', () => {
  let handle: DockerHandle;
  let th: TestHub;
  let browser: Chromium;

  beforeAll(async () => {
    handle = await acquireDocker();
    th = await startTestHub({
      shell: { enabled: true },
      spawner: swarmSingleuserSpawner(hubId),
    });
    th.token('alice');
    const r = await th.api('POST', '/users/alice/server', { token: th.token('admin') });
    expect([201, 202]).toContain(r.status);
    await waitFor(() => th.running.hub.spawns.get('alice', '')?.phase === 'running', 150_000, 250);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 60_000 });
  }, 300_000);

  afterAll(async () => {
    await browser?.close().catch(() => undefined);
    await th?.teardown();
    await removeLeftovers(hubId, false).catch(() => undefined);
    await handle?.release();
  }, 120_000);

  it('Chromium types echo $((6*7)) in the shell page and sees 42', async () => {
    const { page, close } = await chromiumShell(browser, th.url, 'alice', '/hub/shell/alice');
    try {
      await page.keyboard.type('echo $((6*7))');
      await page.keyboard.press('Enter');
      await page.locator('.xterm-rows > div', { hasText: /^42\s*$/ }).first().waitFor({ timeout: 15_000 });
    } finally {
      await close();
    }
  }, 60_000);

  it('runs inside the service container, without the server token, and closing the socket ends the shell', async () => {
    const state = JSON.parse(th.running.hub.stores.servers.get(th.running.hub.stores.users.get('alice')!.id, '')!.state) as { serviceId: string };
    const container = await docker(['ps', '-q', '--no-trunc', '--filter', `label=com.docker.swarm.service.id=${state.serviceId}`]);
    expect(container).toMatch(/^[0-9a-f]{64}$/);
    const b = new Browser(th.url);
    await b.login('alice');
    const { xsrf, socket } = await shellPage(b, '/hub/shell/alice');
    const r = await openShell(b, socket, { xsrf, cols: 90, rows: 20 });
    if (!r.ok) throw new Error(`refused: ${r.status} ${JSON.stringify(r.body)}`);
    const c = r.conn;
    // Typed at once, before any prompt: the keystrokes must not be lost on the way in.
    c.input('echo "where=$(test -e /.dockerenv && echo container) token=${JUPYTERHUB_API_TOKEN:-none} user=$JUPYTERHUB_USER size=$(stty size) ✓"\r');
    await c.waitFor(/[\r\n]where=container token=none user=alice size=20 90 ✓\r?\n/, 20_000);
    c.input('sleep 600 # shell-marker\r');
    await waitFor(async () => (await docker(['top', container, '-eo', 'pid,args'])).includes('sleep 600'), 10_000, 200);
    c.ws.close();
    await c.closed;
    await waitFor(async () => !(await docker(['top', container, '-eo', 'pid,args'])).includes('sleep 600'), 10_000, 200);
  }, 60_000);
});
