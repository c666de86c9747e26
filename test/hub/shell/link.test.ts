/**
 * The "Shell" link on the home page (issue 14 item 4) in Chromium (My work: test/hub/shell/slurm.test.ts): shown beside a
 * running server when shells are on and the user holds the shell scope, and following it opens
 * a connected terminal; absent for a stopped server, and absent when shells are off.
 * Real local processes (the stub single-user server), a real pseudo-terminal behind the link.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser as Chromium, type Page } from 'playwright-core';
import { STUB_NODE, startTestHub, waitFor, type TestHub } from '../harness.js';
import { CHROMIUM, CHROMIUM_ARGS } from './chromium.js';

async function loggedIn(browser: Chromium, base: string, user: string, path: string): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  page.setDefaultTimeout(30_000);
  await page.goto(`${base}/hub/login?next=${encodeURIComponent(path)}`);
  await page.fill('#username', user);
  await Promise.all([page.waitForURL((u) => u.pathname === path), page.click('#login_submit')]);
  return page;
}

describe.skipIf(!existsSync(CHROMIUM))('Shell link on the home page', () => {
  let on: TestHub;
  let off: TestHub;
  let browser: Chromium;
  let homes: string;

  beforeAll(async () => {
    homes = mkdtempSync(join(tmpdir(), 'atrium-shell-link-'));
    const spawner = { local: { cmd: ['node', STUB_NODE], homeTemplate: join(homes, '{username}') }, startTimeoutSeconds: 30 };
    on = await startTestHub({ shell: { enabled: true }, spawner });
    off = await startTestHub({ spawner });
    for (const th of [on, off]) {
      th.token('alice');
      th.token('bob');
      const r = await th.api('POST', '/users/alice/server', { token: th.token('admin') });
      expect([201, 202]).toContain(r.status);
      await waitFor(() => th.running.hub.spawns.get('alice', '')?.phase === 'running', 30_000, 100);
    }
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 60_000 });
  }, 90_000);

  afterAll(async () => {
    await browser?.close().catch(() => undefined);
    await on?.teardown();
    await off?.teardown();
    if (homes) rmSync(homes, { recursive: true, force: true });
  }, 60_000);

  it('home: a running server has a Shell link that opens a connected terminal', async () => {
    const page = await loggedIn(browser, on.url, 'alice', '/hub/home');
    const link = page.locator('a[data-shell=""]');
    expect(await link.count()).toBe(1);
    expect(await link.getAttribute('href')).toBe('/hub/shell/alice');
    await Promise.all([page.waitForURL((u) => u.pathname === '/hub/shell/alice'), link.click()]);
    await page.locator('#shell-status', { hasText: /^Connected/ }).waitFor();
    await page.context().close();
  }, 60_000);

  it('no link for a stopped server, nor when the web shell is off', async () => {
    const bob = await loggedIn(browser, on.url, 'bob', '/hub/home');
    expect(await bob.locator('a[data-shell]').count()).toBe(0);
    await bob.context().close();
    const page = await loggedIn(browser, off.url, 'alice', '/hub/home');
    // The server is running there (Open is offered), only the shell is off.
    expect(await page.locator('a.button.primary', { hasText: 'Open' }).count()).toBe(1);
    expect(await page.locator('a[data-shell]').count()).toBe(0);
    await page.context().close();
  }, 30_000);
});
