/**
 * The home and admin pages in a real browser (Debian chromium through playwright-core), against a
 * hub with 10,000 users in its database and the REAL jupyterhub-singleuser for the servers that
 * start: named-server create/rename/delete and the limit message on the home page (no console
 * error on load), admin search/sort/paging, an admin starting another user's server and staying
 * on the admin page while the row goes starting → running, user edit (rename, admin flag) and
 * delete, groups (create, rename, add/remove member, delete), named-server delete from the admin
 * page, stop all, and shutting the hub down. Server time of the admin page is measured (not
 * asserted) and written to .test-results/admin-timing.json.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { startTestHub, waitFor, type TestHub } from '../hub/harness.js';

const CHROMIUM = '/usr/bin/chromium';
const HAVE_ALL = existsSync(CHROMIUM) && existsSync('/usr/bin/jupyterhub-singleuser');
const ROOT = new URL('../../', import.meta.url).pathname;
const RESULTS = join(ROOT, '.test-results');
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const USERS = 10_000;

/** Log in and land on the home page (no `next` would start the user's default server). */
async function login(page: Page, base: string, user: string): Promise<void> {
  await page.goto(`${base}/hub/login?next=${encodeURIComponent('/hub/home')}`);
  await page.fill('#username', user);
  await page.fill('#password', 'any-password');
  await Promise.all([page.waitForNavigation({ waitUntil: 'domcontentloaded' }), page.click('#login_submit')]);
}

/** Submit a form by clicking its button, accepting the confirm() dialog if one opens. */
async function submit(page: Page, selector: string): Promise<void> {
  page.once('dialog', (d) => void d.accept());
  await Promise.all([page.waitForNavigation({ waitUntil: 'domcontentloaded' }), page.click(selector)]);
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

describe.skipIf(!HAVE_ALL)('home and admin pages in Chromium with 10,000 users', () => {
  let th: TestHub;
  let browser: Browser;
  let homes: string;
  const contexts: BrowserContext[] = [];
  const hub = () => th.running.hub;
  const newPage = async () => {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    contexts.push(ctx);
    return ctx.newPage();
  };

  beforeAll(async () => {
    homes = mkdtempSync(join(tmpdir(), 'atrium-admin-homes-'));
    th = await startTestHub({
      spawner: {
        local: { cmd: ['jupyterhub-singleuser'], homeTemplate: join(homes, '{username}') },
        httpTimeoutSeconds: 60,
        startTimeoutSeconds: 60,
        slowSpawnTimeoutSeconds: 1,
        namedServers: { enabled: true, limitPerUser: 2 },
      },
    });
    // 10,000 users straight through the database layer, with spread-out activity.
    const db = hub().stores.db;
    const ins = db.prepare('INSERT INTO users (name, admin, created, last_activity) VALUES (?, 0, ?, ?)');
    const t0 = Date.now();
    db.transaction(() => {
      for (let i = 0; i < USERS; i++) {
        const name = `stud-${String(i).padStart(5, '0')}`;
        ins.run(name, new Date(t0 - 86_400_000).toISOString(), i % 3 === 0 ? null : new Date(t0 - (USERS - i) * 60_000).toISOString());
      }
    })();
    hub().stores.users.ensure('admin');
    hub().stores.users.setAdmin(hub().stores.users.get('admin')!.id, true);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, timeout: 60_000 });
  }, 60_000);

  afterAll(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await th?.teardown();
    if (homes) rmSync(homes, { recursive: true, force: true });
  });

  it('home: no console error on load; create a named server with a display name, rename, delete; the limit says what to do', async () => {
    const page = await newPage();
    const problems: string[] = [];
    page.on('console', (m) => {
      // A missing favicon is not this page's error (another change adds one).
      if (m.type() === 'error' && !m.location().url.endsWith('/favicon.ico')) problems.push(`${m.text()} ${m.location().url}`);
    });
    page.on('pageerror', (e) => problems.push(String(e)));
    await login(page, th.url, 'alice');
    await page.goto(`${th.url}/hub/home`);
    // The name field's pattern compiles with the `v` flag browsers use and refuses a bad name.
    await page.fill('#servername', 'Bad Name');
    expect(await page.$eval('#servername', (el) => (el as HTMLInputElement).checkValidity())).toBe(false);
    await page.fill('#servername', 'gpu-1');
    expect(await page.$eval('#servername', (el) => (el as HTMLInputElement).checkValidity())).toBe(true);
    expect(problems).toEqual([]);

    await page.fill('#displayname', 'GPU work');
    await Promise.all([page.waitForNavigation({ waitUntil: 'domcontentloaded' }), page.click('text=Create and start')]);
    await waitFor(() => hub().spawns.get('alice', 'gpu-1')?.phase === 'running', 60_000, 200);
    // The pending page sends the browser on to the server once it is ready: let that navigation
    // land first, or it interrupts the next goto.
    await page.waitForURL(/\/user\/alice\/gpu-1\//, { timeout: 30_000 });
    await page.goto(`${th.url}/hub/home`);
    const row = page.locator('tr[data-server="gpu-1"]');
    expect(await row.locator('td').first().innerText()).toBe('GPU work (gpu-1)');
    expect(await row.innerText()).toContain('running');
    // The real singleuser reported activity for this server: the row shows it, not "never".
    await waitFor(() => hub().stores.servers.get(hub().stores.users.get('alice')!.id, 'gpu-1')?.last_activity, 20_000);

    await row.locator('summary').click();
    await row.locator('input[name="display_name"]').fill('Thesis');
    await Promise.all([page.waitForNavigation({ waitUntil: 'domcontentloaded' }), row.locator('text=Save').click()]);
    expect(await page.locator('tr[data-server="gpu-1"] td').first().innerText()).toBe('Thesis (gpu-1)');

    // Fill the limit with a stopped server: stopped ones count, the form gives way to the message.
    hub().stores.servers.ensure(hub().stores.users.get('alice')!.id, 'old-1');
    await page.goto(`${th.url}/hub/home`);
    expect(await page.locator('#servername').count()).toBe(0);
    mkdirSync(RESULTS, { recursive: true });
    await page.screenshot({ path: join(RESULTS, 'home-named-limit.png'), fullPage: true });
    expect(await page.locator('p.error').innerText()).toMatch(/limit is 2\. Delete one on your home page/);

    // Delete the running one: stopped first, row gone, the form is back.
    await submit(page, 'tr[data-server="gpu-1"] button[data-delete]');
    expect(new URL(page.url()).pathname).toBe('/hub/home');
    expect(await page.locator('tr[data-server="gpu-1"]').count()).toBe(0);
    expect(hub().spawns.get('alice', 'gpu-1')).toBeUndefined();
    expect(await page.locator('#servername').count()).toBe(1);
    expect(problems).toEqual([]);
  }, 90_000);

  it('admin: search, sort and paging over 10,000 users (server time measured)', async () => {
    const page = await newPage();
    await login(page, th.url, 'admin');
    const res = await page.goto(`${th.url}/hub/admin`);
    expect(res!.status()).toBe(200);
    expect(await page.locator('#paging').innerText()).toMatch(/^1–50 of 10,00\d users/);
    expect(await page.locator('#users tbody tr[data-server=""]').count()).toBe(50);
    mkdirSync(RESULTS, { recursive: true });
    await page.screenshot({ path: join(RESULTS, 'admin-10k.png') });

    await page.fill('#q', 'stud-0999');
    await Promise.all([page.waitForNavigation(), page.click('button:has-text("Search")')]);
    expect(await page.locator('#paging').innerText()).toMatch(/^1–10 of 10 users matching “stud-0999”/);
    const names = await page.locator('#users tbody tr td:first-child a').allInnerTexts();
    expect(names).toEqual(Array.from({ length: 10 }, (_, i) => `stud-0999${i}`));

    // Sort by name, descending (click twice), within the search.
    await Promise.all([page.waitForNavigation(), page.click('a[data-sort="name"]')]);
    expect(await page.locator('#users tbody tr td:first-child a').first().innerText()).toBe('stud-09999');
    await page.goto(`${th.url}/hub/admin?sort=activity&dir=desc`);
    // The most recent activity first: the users who logged in during this test run, then the
    // newest student (stud-09999 has none: never-active users sort last).
    const top = await page.locator('#users tbody tr td:first-child a').allInnerTexts();
    expect(top.slice(0, 2)).toContain('admin');
    expect(top.filter((n) => n.startsWith('stud-')).slice(0, 2)).toEqual(['stud-09998', 'stud-09997']);
    // Paging: next page, then the last page.
    await page.goto(`${th.url}/hub/admin`);
    await Promise.all([page.waitForNavigation(), page.click('a[rel="next"]')]);
    expect(await page.locator('#paging').innerText()).toMatch(/^51–100 of/);
    await page.goto(`${th.url}/hub/admin?page=201`);
    expect(await page.locator('#paging').innerText()).toMatch(/^10,001–10,00\d of/);
    // Hostile or odd parameters: a page, never a 5xx.
    for (const q of ['?page=-1', '?sort=drop%20table', '?per=100000', '?q=%25%5F', '?page=99999999']) {
      const r = await page.goto(`${th.url}/hub/admin${q}`);
      expect(r!.status(), q).toBe(200);
    }

    // Server time of the page (Server-Timing header), 10 requests per view.
    const cookie = (await page.context().cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
    const views = { first: '', search: '?q=stud-05', 'sort-activity': '?sort=activity&dir=desc', 'sort-running': '?sort=running&dir=desc', 'page-150': '?page=150', 'per-200': '?per=200' };
    const timing: Record<string, { medianMs: number; p90Ms: number; minMs: number; maxMs: number }> = {};
    for (const [label, qs] of Object.entries(views)) {
      const ms: number[] = [];
      for (let i = 0; i < 10; i++) {
        const r = await fetch(`${th.url}/hub/admin${qs}`, { headers: { Cookie: cookie } });
        await r.text();
        ms.push(Number(/dur=([\d.]+)/.exec(r.headers.get('server-timing') ?? '')?.[1]));
      }
      timing[label] = { medianMs: pct(ms, 50), p90Ms: pct(ms, 90), minMs: Math.min(...ms), maxMs: Math.max(...ms) };
    }
    mkdirSync(RESULTS, { recursive: true });
    writeFileSync(join(RESULTS, 'admin-timing.json'), JSON.stringify({ users: USERS, timing }, null, 2));
    console.log('admin page server time (ms):', JSON.stringify(timing));
  }, 60_000);

  it('admin starts another user\'s server and stays on the admin page (starting → running), no consent page', async () => {
    const page = await newPage();
    await login(page, th.url, 'admin');
    await page.goto(`${th.url}/hub/admin?q=stud-00042`);
    await submit(page, 'tr[data-user="stud-00042"][data-server=""] button:has-text("Start")');
    expect(new URL(page.url()).pathname).toBe('/hub/admin');
    expect(new URL(page.url()).search).toBe('?q=stud-00042');
    // The row turns running without a navigation (the page re-reads its table while pending).
    await page.waitForSelector('tr[data-user="stud-00042"][data-server=""] td.status:has-text("running")', { timeout: 60_000 });
    expect(new URL(page.url()).pathname).toBe('/hub/admin');
    expect(await page.content()).not.toContain('Authorize access');
  }, 90_000);

  it('admin: edit a user (rename onto an existing name refused, rename + admin flag), delete a user', async () => {
    const page = await newPage();
    await login(page, th.url, 'admin');
    await page.goto(`${th.url}/hub/admin/users/stud-00007`);
    await page.fill('#name', 'stud-00008');
    const [r] = await Promise.all([page.waitForNavigation(), page.click('text=Save')]);
    expect(r!.status()).toBe(400);
    expect(await page.locator('main').innerText()).toMatch(/stud-00008 already exists/);
    expect(hub().stores.users.get('stud-00007')).toBeDefined();

    await page.goto(`${th.url}/hub/admin/users/stud-00007`);
    await page.fill('#name', 'teacher-7');
    await page.check('#admin');
    await Promise.all([page.waitForNavigation(), page.click('text=Save')]);
    expect(new URL(page.url()).pathname).toBe('/hub/admin/users/teacher-7');
    expect(hub().stores.users.get('teacher-7')?.admin).toBe(1);
    expect(hub().stores.users.get('stud-00007')).toBeUndefined();

    await submit(page, '#delete-user');
    expect(new URL(page.url()).pathname).toBe('/hub/admin');
    expect(hub().stores.users.get('teacher-7')).toBeUndefined();
  }, 60_000);

  it('admin: groups — create with a member, add, remove, rename, delete', async () => {
    const page = await newPage();
    await login(page, th.url, 'admin');
    await page.goto(`${th.url}/hub/admin/groups`);
    await page.fill('#group-name', 'course-a');
    await page.fill('#group-members', 'stud-00001');
    await Promise.all([page.waitForNavigation(), page.click('text=Create group')]);
    expect(new URL(page.url()).pathname).toBe('/hub/admin/groups/course-a');
    await page.fill('#add-users', 'stud-00002, stud-00003');
    await Promise.all([page.waitForNavigation(), page.click('button:has-text("Add")')]);
    const g = () => hub().stores.groups.get('course-a') ?? hub().stores.groups.get('course-2026');
    expect(hub().stores.groups.members(g()!.id)).toEqual(['stud-00001', 'stud-00002', 'stud-00003']);
    await Promise.all([page.waitForNavigation(), page.click('tr[data-member="stud-00002"] button')]);
    expect(hub().stores.groups.members(g()!.id)).toEqual(['stud-00001', 'stud-00003']);
    // An unknown member name is a 400 page naming it, and adds nobody.
    await page.fill('#add-users', 'nobody-here');
    const [bad] = await Promise.all([page.waitForNavigation(), page.click('button:has-text("Add")')]);
    expect(bad!.status()).toBe(400);
    expect(await page.locator('main').innerText()).toMatch(/No such user: nobody-here/);
    await page.goto(`${th.url}/hub/admin/groups/course-a`);
    await page.fill('#new-name', 'course-2026');
    await Promise.all([page.waitForNavigation(), page.click('button:has-text("Rename")')]);
    expect(new URL(page.url()).pathname).toBe('/hub/admin/groups/course-2026');
    expect(await page.locator('#members tr').count()).toBe(2);
    await page.goto(`${th.url}/hub/admin/groups`);
    expect(await page.locator('tr[data-group="course-2026"] td').nth(1).innerText()).toBe('2');
    await page.goto(`${th.url}/hub/admin/groups/course-2026`);
    await submit(page, '#delete-group');
    expect(new URL(page.url()).pathname).toBe('/hub/admin/groups');
    expect(hub().stores.groups.get('course-2026')).toBeUndefined();
  }, 60_000);

  it('admin: delete a user\'s named server; stop all; a non-admin gets 403 pages', async () => {
    const page = await newPage();
    await login(page, th.url, 'admin');
    await page.goto(`${th.url}/hub/admin?q=alice`);
    await submit(page, 'tr[data-user="alice"][data-server="old-1"] button:has-text("Delete")');
    expect(new URL(page.url()).search).toBe('?q=alice');
    expect(hub().stores.servers.get(hub().stores.users.get('alice')!.id, 'old-1')).toBeUndefined();

    await submit(page, 'button:has-text("Stop all servers")');
    await waitFor(() => hub().spawns.active.size === 0, 30_000);

    const other = await newPage();
    await login(other, th.url, 'stud-00010');
    expect((await other.goto(`${th.url}/hub/admin`))!.status()).toBe(403);
    expect((await other.goto(`${th.url}/hub/admin/groups`))!.status()).toBe(403);
    const status = await other.evaluate(async () => (await fetch('/hub/admin/users/stud-00011/delete', { method: 'POST', body: new URLSearchParams({ _xsrf: 'x' }) })).status);
    expect(status).toBe(403);
    expect(hub().stores.users.get('stud-00011')).toBeDefined();
  }, 60_000);

  // Last: the hub is gone afterwards (servers were stopped above, so nothing is orphaned).
  it('admin: shut down the hub (button + confirm)', async () => {
    const page = await newPage();
    await login(page, th.url, 'admin');
    await page.goto(`${th.url}/hub/admin`);
    page.once('dialog', (d) => void d.accept());
    await page.click('#shutdown');
    await page.waitForSelector('#shutdown-status:has-text("The hub is shutting down.")');
    await waitFor(async () => {
      try {
        await fetch(`http://127.0.0.1:${th.config.hub.port}/hub/api`);
        return false;
      } catch {
        return true;
      }
    }, 15_000);
  }, 30_000);
});
