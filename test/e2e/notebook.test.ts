/**
 * End to end in a real browser (Debian chromium through playwright-core): log in to a hub with the
 * REAL jupyterhub-singleuser (classic notebook 6.4), watch the spawn-pending page hand over to
 * the notebook UI, run `print(6*7)` in a kernel (so the kernel websocket goes through
 * atrium-proxy), and check that the hub's own pages fit a phone screen without horizontal scroll.
 * Screenshots go to .test-results/ (gitignored) for a human to look at.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { startTestHub, type TestHub } from '../hub/harness.js';

const CHROMIUM = '/usr/bin/chromium';
const HAVE_ALL = existsSync(CHROMIUM) && existsSync('/usr/bin/jupyterhub-singleuser');
const ROOT = new URL('../../', import.meta.url).pathname;
const SHOTS = join(ROOT, '.test-results');
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

/** A minimal nbformat 4 notebook with one empty code cell and the ipykernel kernelspec. */
const EMPTY_NOTEBOOK = {
  type: 'notebook',
  content: {
    cells: [{ cell_type: 'code', execution_count: null, metadata: {}, outputs: [], source: '' }],
    metadata: {
      kernelspec: { name: 'python3', display_name: 'Python 3 (ipykernel)', language: 'python' },
      language_info: { name: 'python' },
    },
    nbformat: 4,
    nbformat_minor: 5,
  },
};

async function login(page: Page, base: string, user: string, next?: string): Promise<void> {
  await page.goto(`${base}/hub/login${next ? `?next=${encodeURIComponent(next)}` : ''}`);
  await page.fill('#username', user);
  await page.fill('#password', 'any-password');
  await Promise.all([page.waitForNavigation({ waitUntil: 'domcontentloaded' }), page.click('#login_submit')]);
}

describe.skipIf(!HAVE_ALL)('notebook end to end in Chromium', () => {
  let th: TestHub;
  let browser: Browser;
  let homes: string;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    homes = mkdtempSync(join(tmpdir(), 'atrium-e2e-homes-'));
    th = await startTestHub({
      spawner: {
        local: { cmd: ['jupyterhub-singleuser'], homeTemplate: join(homes, '{username}') },
        httpTimeoutSeconds: 60,
        startTimeoutSeconds: 60,
      },
    });
    // chromium.launch() runs on a fresh temporary profile (playwright creates and removes it);
    // every test also gets its own context, so no cookies or storage leak between them.
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, timeout: 60_000 });
  });

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await th?.teardown();
    if (homes) rmSync(homes, { recursive: true, force: true });
  });

  it('logs in, spawns jupyterhub-singleuser, runs print(6*7) in a kernel through the proxy', async () => {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    contexts.push(ctx);
    const page = await ctx.newPage();
    page.setDefaultTimeout(90_000);
    const visited: string[] = [];
    page.on('framenavigated', (f) => {
      if (f === page.mainFrame()) visited.push(new URL(f.url()).pathname);
    });

    await login(page, th.url, 'alice');
    // Login → /hub/spawn → spawn-pending (EventSource progress) → OAuth → /user/alice/tree.
    await page.waitForURL(/\/user\/alice\/tree/, { timeout: 120_000 });
    expect(visited.some((p) => p.startsWith('/hub/spawn-pending/alice'))).toBe(true);
    await page.waitForSelector('#notebook_list', { timeout: 60_000 });

    // Create the notebook with the contents API, from the page, with the notebook's XSRF cookie.
    const created = await page.evaluate(async (nb) => {
      const xsrf = /(?:^|;\s*)_xsrf=([^;]+)/.exec(document.cookie)?.[1] ?? '';
      const res = await fetch('/user/alice/api/contents/e2e-test.ipynb', {
        method: 'PUT',
        headers: { 'Content-Type': 'application/json', 'X-XSRFToken': decodeURIComponent(xsrf) },
        body: JSON.stringify(nb),
      });
      return { status: res.status, body: await res.text() };
    }, EMPTY_NOTEBOOK);
    expect(created.status, created.body).toBeLessThan(300);

    await page.goto(`${th.url}/user/alice/notebooks/e2e-test.ipynb`);
    // The classic UI exposes its model as window.Jupyter: wait for a connected kernel.
    await page.waitForFunction(
      () => {
        const J = (window as unknown as { Jupyter?: { notebook?: { kernel?: { is_connected?: () => boolean } } } }).Jupyter;
        return Boolean(J?.notebook?.kernel?.is_connected?.());
      },
      undefined,
      { timeout: 90_000, polling: 250 },
    );
    await page.click('.cell.code_cell .CodeMirror');
    await page.keyboard.type('print(6*7)');
    await page.keyboard.press('Shift+Enter');
    const output = page.locator('.cell.code_cell').first().locator('.output_area .output_text');
    await output.waitFor({ timeout: 90_000 });
    expect((await output.innerText()).trim()).toBe('42');

    // The websocket really went through the public proxy URL, not straight to the server.
    const wsUrl = await page.evaluate(() => {
      const k = (window as unknown as { Jupyter: { notebook: { kernel: { ws?: { url?: string }; ws_url?: string } } } }).Jupyter.notebook.kernel;
      return k.ws?.url ?? k.ws_url ?? '';
    });
    expect(new URL(wsUrl).port).toBe(new URL(th.url).port);

    await page.screenshot({ path: join(SHOTS, 'e2e-notebook.png') });
  });

  it('login, home, admin and token pages fit a phone screen (390x844) without horizontal scroll', async () => {
    const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
    contexts.push(ctx);
    const page = await ctx.newPage();
    page.setDefaultTimeout(60_000);

    const fits = async (name: string) => {
      await page.waitForLoadState('domcontentloaded');
      const m = await page.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth }));
      await page.screenshot({ path: join(SHOTS, `e2e-phone-${name}.png`), fullPage: true });
      // A mobile browser zooms out to fit over-wide content, which widens innerWidth to match
      // scrollWidth: so innerWidth must also still be the phone's 390 CSS pixels.
      expect(m.innerWidth, `${name}: the page was zoomed out to ${m.innerWidth}px to fit`).toBe(390);
      expect(m.scrollWidth, `${name}: scrollWidth ${m.scrollWidth} > innerWidth ${m.innerWidth}`).toBeLessThanOrEqual(m.innerWidth);
    };

    await page.goto(`${th.url}/hub/login?next=${encodeURIComponent('/hub/home')}`);
    await fits('login');
    // "admin" is in adminUsers; next=/hub/home so no server is started for it.
    await page.fill('#username', 'admin');
    await page.fill('#password', 'any-password');
    await Promise.all([page.waitForURL(/\/hub\/home$/), page.click('#login_submit')]);
    await expect(page.locator('h1').innerText()).resolves.toMatch(/servers/i);
    await fits('home');

    await page.goto(`${th.url}/hub/admin`);
    // The admin table lists alice (running, from the first test) and admin.
    await expect(page.locator('table').innerText()).resolves.toMatch(/admin/);
    await fits('admin');

    await page.goto(`${th.url}/hub/token`);
    await fits('token');
  });
});
