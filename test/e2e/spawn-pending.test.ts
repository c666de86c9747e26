/**
 * The spawn-pending page in Chromium (issue 10, items 1 and 2), against real processes started by
 * the local spawner: `/bin/false` (fails at once), a program that does not exist, a server that
 * dies after 3 s, one that never listens (cancelled), one that fails once and then starts. One
 * shell script picks the behaviour by user name, so one hub serves every case.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startTestHub, STUB_NODE, type TestHub } from '../hub/harness.js';
import type { LocalSpawnerState } from '../../src/spawners/local/local-spawner.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'];

/** Running (a zombie the test process has not reaped yet has exited: it does not count). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

async function waitFor<T>(fn: () => T | undefined | null | false, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function login(page: Page, base: string, user: string, next = '/hub/spawn'): Promise<void> {
  await page.goto(`${base}/hub/login?next=${encodeURIComponent(next)}`);
  await page.fill('#username', user);
  await Promise.all([page.waitForNavigation({ waitUntil: 'domcontentloaded' }), page.click('#login_submit')]);
}

describe.skipIf(!existsSync(CHROMIUM))('spawn-pending page in Chromium', () => {
  let th: TestHub;
  let missing: TestHub;
  let browser: Browser;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'atrium-pending-'));
    const script = join(dir, 'server.sh');
    writeFileSync(
      script,
      `#!/bin/sh
case "$JUPYTERHUB_USER" in
  fastfail) exec /bin/false ;;
  slowfail) sleep 5; echo "boom" >&2; exit 3 ;;
  hang|hangtime) exec sleep 600 ;;
  flaky) if [ -e "${dir}/flaky-tried" ]; then exec node "${STUB_NODE}"; fi; touch "${dir}/flaky-tried"; exit 1 ;;
  *) exec node "${STUB_NODE}" ;;
esac
`,
      { mode: 0o755 },
    );
    th = await startTestHub({ spawner: { local: { cmd: ['/bin/sh', script], homeTemplate: join(dir, 'home-{username}') }, startTimeoutSeconds: 60 } });
    missing = await startTestHub({ spawner: { local: { cmd: [join(dir, 'no-such-program')], homeTemplate: join(dir, 'home-{username}') } } });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, timeout: 60_000 });
  });

  afterAll(async () => {
    await browser?.close().catch(() => undefined);
    await th?.teardown();
    await missing?.teardown();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function newPage(js = true): Promise<Page> {
    const ctx = await browser.newContext({ javaScriptEnabled: js });
    const page = await ctx.newPage();
    page.setDefaultTimeout(30_000);
    return page;
  }

  it('a command that fails at once lands on the pending page: failed heading, reason, hint, Try again', async () => {
    const page = await newPage();
    await login(page, th.url, 'fastfail');
    await page.waitForSelector('#failed');
    expect(new URL(page.url()).pathname).toBe('/hub/spawn-pending/fastfail');
    expect(await page.textContent('h1')).toBe('Your server could not start');
    expect(await page.textContent('#reason')).toMatch(/exited \(exit status 1\) before it was listening/);
    expect(await page.textContent('#hint')).toMatch(/stopped right after it started/);
    // Readable on a phone: no horizontal scroll at 390 CSS pixels.
    await page.setViewportSize({ width: 390, height: 844 });
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    // Try again is a real new attempt (with the session's XSRF token): it fails again, the same way.
    const first = th.running.hub.spawns.failures.get('fastfail/');
    await Promise.all([page.waitForNavigation(), page.click('#retry')]);
    await page.waitForSelector('#failed');
    expect(th.running.hub.spawns.failures.get('fastfail/')).not.toBe(first);
    await page.context().close();
  });

  it('a program that does not exist lands on the pending page with the configuration hint', async () => {
    const page = await newPage();
    await login(page, missing.url, 'alice');
    await page.waitForSelector('#failed');
    expect(await page.textContent('h1')).toBe('Your server could not start');
    expect(await page.textContent('#reason')).toContain('The server could not be started');
    expect(await page.textContent('#hint')).toContain('not installed where the hub looks for it');
    expect(await page.content()).not.toContain('Something went wrong');
    await page.context().close();
  });

  it('a slow failure turns the starting page into the failure page; progress and the event log are real events', async () => {
    const page = await newPage();
    await login(page, th.url, 'slowfail');
    await page.waitForSelector('#pending');
    expect(await page.textContent('h1')).toBe('Your server is starting');
    expect(await page.textContent('#redirect-note')).toMatch(/automatically/);
    // The bar is where the spawner's last event put it, never a fake 100.
    const bar = await page.waitForFunction(() => {
      const v = (document.getElementById('bar') as HTMLProgressElement).value;
      return v >= 40 ? v : 0;
    });
    expect(await bar.jsonValue()).toBeLessThan(100);
    await page.click('#events summary');
    // Each entry is <time>…</time> then the message text.
    const log = await page.$$eval('#log li', (li) => li.map((x) => x.lastChild?.textContent ?? null));
    expect(log.filter((m) => m === 'Server requested')).toHaveLength(1);
    expect(log.some((m) => /Process started \(pid \d+\)/.test(m ?? ''))).toBe(true);
    await page.waitForSelector('#failed', { timeout: 20_000 });
    expect(await page.textContent('h1')).toBe('Your server could not start');
    expect(await page.textContent('#reason')).toMatch(/exit status 3/);
    expect(await page.isVisible('#retry')).toBe(true);
    await page.context().close();
  });

  it('without JavaScript the page reloads itself until it shows the failure', async () => {
    const page = await newPage(false);
    await login(page, th.url, 'slowfail');
    expect(await page.textContent('h1')).toBe('Your server is starting');
    await page.waitForSelector('#failed', { timeout: 20_000 });
    expect(await page.textContent('#reason')).toMatch(/exit status 3/);
    await page.context().close();
  });

  it('Cancel while pending stops the start: the process is gone, the row is stopped, a reload does not start it again', async () => {
    const page = await newPage();
    await login(page, th.url, 'hang');
    await page.waitForSelector('#cancel');
    const hub = th.running.hub;
    const pid = await waitFor(() => (hub.spawns.get('hang', '')?.spawner?.state() as LocalSpawnerState | undefined)?.pid, 10_000);
    expect(alive(pid)).toBe(true);
    await Promise.all([page.waitForNavigation(), page.click('#cancel')]);
    expect(new URL(page.url()).pathname).toBe('/hub/home');
    expect(hub.spawns.get('hang', '')).toBeUndefined();
    expect(alive(pid)).toBe(false);
    const user = hub.stores.users.get('hang')!;
    expect(hub.stores.servers.get(user.id, '')?.status).toBe('stopped');
    expect(hub.stores.tokens.ofUser(user.id).filter((t) => t.server_id !== null)).toEqual([]);
    await page.goto(`${th.url}/hub/spawn-pending/hang`);
    expect(await page.textContent('h1')).toMatch(/was cancelled/);
    expect(hub.spawns.get('hang', '')).toBeUndefined();
    await page.context().close();
  });

  it('event log entries carry their time, in the browser\'s time zone (UTC without JavaScript)', async () => {
    // UTC+14, so a local time cannot pass for the UTC one by accident.
    const ctx = await browser.newContext({ timezoneId: 'Pacific/Kiritimati' });
    const page = await ctx.newPage();
    page.setDefaultTimeout(30_000);
    await login(page, th.url, 'hangtime');
    await page.waitForSelector('#cancel');
    // Wait for at least two events (the first is rendered by the server, later ones may stream in).
    await page.waitForFunction(() => document.querySelectorAll('#log li').length >= 2, undefined, { timeout: 20_000 });
    const rows = await page.$$eval('#log li', (lis) =>
      lis.map((li) => {
        const t = li.querySelector('time');
        return { iso: t?.getAttribute('datetime') ?? null, text: t?.textContent?.trim() ?? null };
      }),
    );
    const before = Date.now();
    for (const r of rows) {
      expect(r.iso).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(Math.abs(before - Date.parse(r.iso!))).toBeLessThan(60_000);
      const local = await page.evaluate((iso) => new Date(iso).toLocaleTimeString(), r.iso!);
      expect(r.text).toBe(local);
      expect(r.text).not.toContain(r.iso!.slice(11, 16));
    }
    // The same page without JavaScript says UTC, from the same recorded times.
    const plain = await newPage(false);
    await plain.context().addCookies(await ctx.cookies());
    await plain.goto(`${th.url}/hub/spawn-pending/hangtime`);
    const first = await plain.textContent('#log li time');
    expect(first).toBe(`${rows[0]!.iso!.slice(11, 19)} UTC `);
    await plain.context().close();
    await Promise.all([page.waitForNavigation(), page.click('#cancel')]);
    expect(th.running.hub.spawns.get('hangtime', '')).toBeUndefined();
    await ctx.close();
  });

  it('Try again after a failure starts the server and the page hands over to it', async () => {
    const page = await newPage();
    await login(page, th.url, 'flaky');
    await page.waitForSelector('#failed');
    await page.click('#retry');
    await page.waitForURL(/\/user\/flaky\//, { timeout: 30_000 });
    expect(th.running.hub.spawns.get('flaky', '')?.phase).toBe('running');
    await page.context().close();
  });

  it('API: DELETE on a pending server cancels it (204), as JupyterHub 5.1+ does; nothing is left running', async () => {
    const token = th.token('admin');
    th.token('hang'); // the user exists even when this test runs alone
    const start = await th.api('POST', '/users/hang/server', { token });
    expect(start.status).toBe(202);
    const hub = th.running.hub;
    const pid = await waitFor(() => (hub.spawns.get('hang', '')?.spawner?.state() as LocalSpawnerState | undefined)?.pid, 10_000);
    const del = await th.api('DELETE', '/users/hang/server', { token });
    expect(del.status).toBe(204);
    expect(alive(pid)).toBe(false);
    expect(hub.spawns.get('hang', '')).toBeUndefined();
    const progress = await th.api('GET', '/users/hang/server/progress', { token });
    expect(await progress.text()).toContain('"failed":true');
  });
});
