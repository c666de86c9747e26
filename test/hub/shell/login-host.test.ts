/**
 * The web shell into configured login hosts (shell.loginHosts), against a real sshd on a
 * network-namespace host (test/services/netns.ts): Chromium follows the "Shell on" link from the
 * home page and types into the terminal; the user's own key from auth_state logs in too; a host
 * whose key is not the pinned one gives a message and no shell; a user outside the host's groups
 * and a cross-origin websocket are refused before anything reaches the host.
 */
import { chromium, type Browser as Chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeSshConnections } from '../../../src/shared/ssh/connection-pool.js';
import { startTestHosts, type TestHosts } from '../../services/netns.js';
import { Browser, startTestHub, type TestHub } from '../harness.js';
import { CHROMIUM, CHROMIUM_ARGS } from './chromium.js';
import { openShell, shellPage } from './shell-client.js';

describe('web shell into a login host', () => {
  let hosts: TestHosts;
  let th: TestHub;
  let browser: Chromium;
  let account: string;

  beforeAll(async () => {
    hosts = await startTestHosts(1);
    account = hosts.user;
    const address = hosts.hosts[0]!.address;
    const admin = { adminUser: 'root', adminKeyFile: hosts.adminKeyFile, userPrefix: ['runuser', '-u', '{username}', '--'] };
    th = await startTestHub({
      shell: {
        enabled: true,
        loginHosts: [
          { name: 'login1', label: 'Login 1', address, knownHostsFile: hosts.knownHostsFile, groups: ['hpc'], ...admin },
          { name: 'own-key', address, knownHostsFile: hosts.knownHostsFile, login: 'user-key' },
          { name: 'spoofed', address, hostKeys: [hosts.wrongHostKey], ...admin },
        ],
      },
    });
    const adminToken = th.token('admin');
    th.token('bob');
    th.token(account);
    const g = await th.api('POST', '/groups/hpc', { token: adminToken, body: { users: [account] } });
    expect(g.status).toBeLessThan(300);
    const p = await th.api('PATCH', `/users/${account}`, { token: adminToken, body: { auth_state: { ssh_private_key: hosts.userKey } } });
    expect(p.status).toBe(200);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 60_000 });
  }, 120_000);

  afterAll(async () => {
    await browser?.close().catch(() => undefined);
    await th?.teardown();
    closeSshConnections();
    await hosts?.stop();
  }, 60_000);

  it('Chromium follows "Shell on Login 1" from the home page, types echo $((6*7)); whoami and sees 42 and the account', async () => {
    const ctx = await browser.newContext({ viewport: { width: 1100, height: 700 } });
    try {
      const page = await ctx.newPage();
      await page.goto(`${th.url}/hub/login?next=${encodeURIComponent('/hub/home')}`);
      await page.fill('#username', account);
      await page.fill('#password', 'any-password');
      await Promise.all([page.waitForURL((u) => u.pathname === '/hub/home', { timeout: 30_000 }), page.click('#login_submit')]);
      // The restricted host is offered (member of hpc) and so are the open ones.
      expect(await page.locator('[data-login-shell]').evaluateAll((as) => as.map((a) => a.textContent))).toEqual(['Shell on Login 1', 'Shell on own-key', 'Shell on spoofed']);
      await Promise.all([page.waitForURL((u) => u.pathname === '/hub/login-shell/login1'), page.click('[data-login-shell="login1"]')]);
      await page.locator('#shell-status', { hasText: /^Connected to Login 1/ }).waitFor({ timeout: 30_000 });
      await page.waitForFunction(() => (document.querySelector('.xterm-rows')?.textContent ?? '').trim().length > 0, undefined, { timeout: 15_000 });
      await page.click('#terminal');
      await page.keyboard.type('echo $((6*7)); whoami');
      await page.keyboard.press('Enter');
      try {
        await page.locator('.xterm-rows > div', { hasText: /^42\s*$/ }).first().waitFor({ timeout: 30_000 });
        await page.locator('.xterm-rows > div', { hasText: new RegExp(`^${account}\\s*$`) }).first().waitFor({ timeout: 15_000 });
      } catch (err) {
        const rows = await page.locator('.xterm-rows > div').evaluateAll((ds) => ds.map((d) => d.textContent).filter((t) => t?.trim()));
        throw new Error(`${(err as Error).message}\nterminal: ${JSON.stringify(rows)}`);
      }
    } finally {
      await ctx.close();
    }
  }, 90_000);

  it('logs in with the user\'s own key from auth_state (login: user-key): UTF-8, resize', async () => {
    const b = new Browser(th.url);
    await b.login(account);
    const { xsrf, socket } = await shellPage(b, '/hub/login-shell/own-key');
    expect(socket).toBe('/hub/login-shell-socket/own-key');
    const r = await openShell(b, socket, { xsrf, cols: 90, rows: 20 });
    if (!r.ok) throw new Error(`refused: ${r.status} ${JSON.stringify(r.body)}`);
    const c = r.conn;
    c.input('echo "me=$(id -un) size=$(stty size) ✓"\r');
    await c.waitFor(new RegExp(`[\\r\\n]me=${account} size=20 90 ✓\\r?\\n`), 30_000);
    c.ws.send(JSON.stringify({ type: 'resize', cols: 101, rows: 31 }));
    c.input('stty size\r');
    await c.waitFor(/[\r\n]31 101\r?\n/);
    c.ws.close();
    await c.closed;
  }, 60_000);

  it('a host offering another key than the pinned one: a clear message and no shell', async () => {
    const b = new Browser(th.url);
    await b.login(account);
    const { xsrf, socket } = await shellPage(b, '/hub/login-shell/spoofed');
    const before = hosts.hosts[0]!.sessionPids().length;
    const r = await openShell(b, socket, { xsrf });
    if (!r.ok) throw new Error(`refused before the upgrade: ${r.status}`);
    const closed = await r.conn.closed;
    expect(closed.code).toBe(4003);
    expect(r.conn.notices).toEqual([{ type: 'error', message: expect.stringMatching(/^The key of spoofed does not match the configured one, so no shell was opened/) }]);
    expect(r.conn.output().length).toBe(0);
    expect(hosts.hosts[0]!.sessionPids().length).toBeLessThanOrEqual(before);
  }, 60_000);

  it('a user outside the host\'s groups gets no link, a 403 page and a refused socket', async () => {
    const b = new Browser(th.url);
    await b.login('bob');
    const home = await (await b.follow('/hub/home')).res.text();
    expect(home).not.toContain('data-login-shell="login1"');
    expect(home).toContain('data-login-shell="own-key"');
    const { res } = await b.follow('/hub/login-shell/login1');
    expect(res.status).toBe(403);
    expect(await res.text()).toContain('The login host Login 1 is open to members of &#34;hpc&#34; only');
    // The XSRF token of bob's session, from a page he may open.
    const { xsrf } = await shellPage(b, '/hub/login-shell/own-key');
    const r = await openShell(b, '/hub/login-shell-socket/login1', { xsrf });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.body).toEqual({ status: 403, message: 'The login host Login 1 is open to members of "hpc" only' });
    const unknown = await openShell(b, '/hub/login-shell-socket/nope', { xsrf });
    expect(unknown.ok ? 0 : unknown.status).toBe(404);
  }, 60_000);

  it('a cross-origin websocket, or one without the XSRF token, is refused', async () => {
    const b = new Browser(th.url);
    await b.login(account);
    const { xsrf, socket } = await shellPage(b, '/hub/login-shell/login1');
    const evil = await openShell(b, socket, { xsrf, origin: 'http://evil.example' });
    expect(evil.ok ? 0 : evil.status).toBe(403);
    if (!evil.ok) expect(evil.body.message).toMatch(/only accepted from the hub's own pages/);
    const noXsrf = await openShell(b, socket, {});
    expect(noXsrf.ok ? 0 : noXsrf.status).toBe(403);
  }, 60_000);
});
