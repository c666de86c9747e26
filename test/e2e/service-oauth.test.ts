/**
 * A managed JupyterHub service in a real browser (Debian chromium through playwright-core): the
 * hub runs test/fixtures/whoami-service.py (HubOAuth from Debian's jupyterhub 3.0) twice, once
 * with oauthNoConfirm and once without; Chromium logs in at the hub, opens /services/NAME/
 * through atrium-proxy, goes through OAuth (confirming on the "Authorize access" page for the
 * second) and sees its own name. A user the service does not admit gets the hub's 403 page.
 */
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startTestHub, waitFor, type TestHub } from '../hub/harness.js';
import { freePort } from '../services/util.js';

const CHROMIUM = '/usr/bin/chromium';
const PYTHON = '/usr/bin/python3';
const FIXTURE = new URL('../fixtures/whoami-service.py', import.meta.url).pathname;
const HAVE_ALL = existsSync(CHROMIUM) && existsSync(PYTHON);
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];

async function login(page: Page, base: string, user: string, next: string): Promise<void> {
  await page.goto(`${base}/hub/login?next=${encodeURIComponent(next)}`);
  await page.fill('#username', user);
  await page.fill('#password', 'any-password');
  await Promise.all([page.waitForNavigation({ waitUntil: 'domcontentloaded' }), page.click('#login_submit')]);
}

describe.skipIf(!HAVE_ALL)('service OAuth in Chromium', () => {
  let th: TestHub;
  let browser: Browser;
  beforeAll(async () => {
    const [p1, p2] = [await freePort(), await freePort()];
    th = await startTestHub({
      services: [
        { name: 'whoami', url: `http://127.0.0.1:${p1}`, command: [PYTHON, FIXTURE], accessAllUsers: true, oauthNoConfirm: true },
        { name: 'confirm', url: `http://127.0.0.1:${p2}`, command: [PYTHON, FIXTURE], accessUsers: ['alice'] },
      ],
    });
    for (const name of ['whoami', 'confirm']) {
      await waitFor(async () => (await fetch(`${th.url}/services/${name}/env`).catch(() => null))?.status === 200, 30_000, 200);
    }
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, timeout: 60_000 });
  });
  afterAll(async () => {
    await browser?.close().catch(() => undefined);
    await th?.teardown();
  });

  it('oauthNoConfirm: login at the hub, then straight to the service, which knows the user', async () => {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    await login(page, th.url, 'alice', '/services/whoami/');
    await page.waitForURL(`${th.url}/services/whoami/`, { timeout: 15_000 });
    const me = JSON.parse((await page.textContent('body')) ?? '{}') as { name: string; service: string };
    expect(me).toMatchObject({ name: 'alice', service: 'whoami' });
    // The service's own cookie holds the token, on the service's path only.
    const cookies = await ctx.cookies(`${th.url}/services/whoami/`);
    expect(cookies.find((c) => c.name === 'service-whoami')?.path).toBe('/services/whoami/');
    await ctx.close();
  }, 60_000);

  it('without oauthNoConfirm the user confirms on the hub page first; others get a 403 page', async () => {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    await login(page, th.url, 'alice', '/services/confirm/');
    await page.waitForSelector('text=Authorize access', { timeout: 15_000 });
    expect(await page.textContent('body')).toContain('Service confirm');
    await Promise.all([page.waitForURL(`${th.url}/services/confirm/`, { timeout: 15_000 }), page.click('button:has-text("Authorize")')]);
    expect(JSON.parse((await page.textContent('body')) ?? '{}')).toMatchObject({ name: 'alice', service: 'confirm' });
    await ctx.close();

    const other = await browser.newContext();
    const p2 = await other.newPage();
    await login(p2, th.url, 'bob', '/services/confirm/');
    expect(await p2.textContent('body')).toContain('You do not have permission to access Service confirm');
    await other.close();
  }, 60_000);
});
