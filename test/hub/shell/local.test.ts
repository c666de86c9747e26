/**
 * The web shell into a local session, end to end through atrium-proxy: Chromium types
 * `echo $((6*7))` into xterm.js and sees 42 (the real jupyterhub-singleuser as the server); a
 * websocket client checks what the browser cannot easily show: UTF-8 both ways, resize, the
 * server's token kept out of the shell, the Origin and XSRF checks, and that nobody else (not
 * even an admin) opens a shell into alice's server.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser as Chromium } from 'playwright-core';
import { Browser, startTestHub, waitFor, type TestHub } from '../harness.js';
import { openShell, shellPage } from './shell-client.js';
import { CHROMIUM, CHROMIUM_ARGS, chromiumShell } from './chromium.js';

const HAVE_ALL = existsSync(CHROMIUM) && existsSync('/usr/bin/jupyterhub-singleuser');

describe.skipIf(!HAVE_ALL)('web shell into a local session', () => {
  let th: TestHub;
  let browser: Chromium;
  let homes: string;

  beforeAll(async () => {
    homes = mkdtempSync(join(tmpdir(), 'atrium-shell-homes-'));
    th = await startTestHub({
      shell: { enabled: true },
      spawner: {
        local: { cmd: ['jupyterhub-singleuser'], homeTemplate: join(homes, '{username}') },
        httpTimeoutSeconds: 60,
        startTimeoutSeconds: 60,
      },
    });
    const admin = th.token('admin');
    for (const u of ['alice', 'bob']) {
      th.token(u);
      const r = await th.api('POST', `/users/${u}/server`, { token: admin });
      expect([201, 202]).toContain(r.status);
    }
    await waitFor(() => th.running.hub.spawns.get('alice', '')?.phase === 'running' && th.running.hub.spawns.get('bob', '')?.phase === 'running', 60_000, 200);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 60_000 });
  }, 120_000);

  afterAll(async () => {
    await browser?.close().catch(() => undefined);
    await th?.teardown();
    if (homes) rmSync(homes, { recursive: true, force: true });
  }, 60_000);

  it('Chromium types echo $((6*7)) in the shell page and sees 42, and a multibyte line comes back intact', async () => {
    const { page, close } = await chromiumShell(browser, th.url, 'alice', '/hub/shell/alice');
    try {
      await page.keyboard.type('echo $((6*7))');
      await page.keyboard.press('Enter');
      await page.locator('.xterm-rows > div', { hasText: /^42\s*$/ }).first().waitFor({ timeout: 15_000 });
      await page.keyboard.type('echo "héllo→✓"');
      await page.keyboard.press('Enter');
      await page.locator('.xterm-rows > div', { hasText: /^héllo→✓\s*$/ }).first().waitFor({ timeout: 15_000 });
    } finally {
      await close();
    }
  }, 60_000);

  it('speaks UTF-8 both ways, resizes, starts in the server directory and never shows the server token', async () => {
    const b = new Browser(th.url);
    await b.login('alice');
    const { xsrf, socket } = await shellPage(b, '/hub/shell/alice');
    const opened = await openShell(b, socket, { xsrf, cols: 100, rows: 30 });
    if (!opened.ok) throw new Error(`refused: ${opened.status} ${JSON.stringify(opened.body)}`);
    const c = opened.conn;
    try {
      c.input('stty size; pwd\r');
      await c.waitFor(/[\r\n]30 100\r?\n/);
      await c.waitFor(new RegExp(`[\\r\\n]${join(homes, 'alice')}\\r?\\n`));
      c.ws.send(JSON.stringify({ type: 'resize', cols: 123, rows: 45 }));
      c.input('stty size\r');
      await c.waitFor(/[\r\n]45 123\r?\n/);
      // Three-byte and two-byte characters, typed and printed back.
      c.input('printf "%s|%s\\n" "€✓" "é"\r');
      await c.waitFor(/[\r\n]€✓\|é\r?\n/);
      expect(c.output().includes(Buffer.from('€✓|é', 'utf8'))).toBe(true);
      c.input('echo "token=${JUPYTERHUB_API_TOKEN:-none}/${JPY_API_TOKEN:-none}/${ATRIUM_SERVER_ID:-none} user=$JUPYTERHUB_USER"\r');
      await c.waitFor(/[\r\n]token=none\/none\/none user=alice\r?\n/);
      c.input('exit\r');
      const closed = await c.closed;
      expect(closed.code).toBe(1000);
      expect(c.notices).toContainEqual(expect.objectContaining({ type: 'exit', code: 0 }));
    } finally {
      c.ws.terminate();
    }
  }, 60_000);

  it('refuses a cross-origin websocket (403), one with no Origin, and one without or with a wrong XSRF token', async () => {
    const b = new Browser(th.url);
    await b.login('alice');
    const { xsrf, socket } = await shellPage(b, '/hub/shell/alice');
    const evil = await openShell(b, socket, { xsrf, origin: 'http://evil.example' });
    expect(evil).toMatchObject({ ok: false, status: 403 });
    expect(!evil.ok && evil.body.message).toMatch(/hub's own pages/);
    const lookalike = await openShell(b, socket, { xsrf, origin: `${th.url}.evil.example` });
    expect(lookalike).toMatchObject({ ok: false, status: 403 });
    expect(await openShell(b, socket, { xsrf, origin: null })).toMatchObject({ ok: false, status: 403 });
    const noToken = await openShell(b, socket, {});
    expect(noToken).toMatchObject({ ok: false, status: 403, body: { message: 'Missing or invalid XSRF token' } });
    expect(await openShell(b, socket, { xsrf: xsrf.replace(/^./, (ch) => (ch === '0' ? '1' : '0')) })).toMatchObject({ ok: false, status: 403 });
    // The token of another session is worth nothing here.
    const other = new Browser(th.url);
    await other.login('alice');
    const otherXsrf = (await shellPage(other, '/hub/shell/alice')).xsrf;
    expect(otherXsrf).not.toBe(xsrf);
    expect(await openShell(b, socket, { xsrf: otherXsrf })).toMatchObject({ ok: false, status: 403 });
    // Not logged in at all.
    expect(await openShell(b, socket, { xsrf, cookies: false })).toMatchObject({ ok: false, status: 403 });
    // Bad sizes are a 400, not a crash.
    expect(await openShell(b, socket, { xsrf, cols: 5000 })).toMatchObject({ ok: false, status: 400 });
    // The same socket with everything right opens.
    const good = await openShell(b, socket, { xsrf });
    expect(good.ok).toBe(true);
    if (good.ok) good.conn.ws.close();
  }, 60_000);

  it('another user, and an admin without adminsOpenAnyServer, cannot open a shell into alice\'s server (page or socket)', async () => {
    for (const who of ['bob', 'admin']) {
      const b = new Browser(th.url);
      await b.login(who);
      const { res } = await b.follow('/hub/shell/alice');
      expect(res.status).toBe(404);
      await res.arrayBuffer();
      // With a valid XSRF token of their own session (from any form page), aimed at alice's socket.
      const tokenPage = await (await b.follow('/hub/token')).res.text();
      const xsrf = /name="_xsrf" value="([^"]+)"/.exec(tokenPage)![1]!;
      const r = await openShell(b, '/hub/shell-socket/alice', { xsrf });
      expect(r).toMatchObject({ ok: false, status: 404 });
    }
    // bob's own server works for bob.
    const b = new Browser(th.url);
    await b.login('bob');
    const { xsrf, socket } = await shellPage(b, '/hub/shell/bob');
    const mine = await openShell(b, socket, { xsrf });
    expect(mine.ok).toBe(true);
    if (mine.ok) {
      mine.conn.input('echo "I am $JUPYTERHUB_USER"\r');
      await mine.conn.waitFor(/[\r\n]I am bob\r?\n/);
      mine.conn.ws.close();
    }
  }, 60_000);
});
