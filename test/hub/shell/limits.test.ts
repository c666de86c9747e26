/**
 * The web shell's limits on a cheap hub (the node stub as the server: the shell is a login shell
 * beside it, which is all these checks need): off by default, a stopped server is a readable 409
 * page, the per-user session limit (429), the idle timeout.
 */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, startTestHub, waitFor, type TestHub } from '../harness.js';
import { openShell, shellPage } from './shell-client.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('web shell limits', () => {
  let th: TestHub;
  let off: TestHub;

  beforeAll(async () => {
    [th, off] = await Promise.all([
      startTestHub({ shell: { enabled: true, maxSessionsPerUser: 2, idleTimeoutSeconds: 2 } }),
      startTestHub({}),
    ]);
    th.token('alice');
    const r = await th.api('POST', '/users/alice/server', { token: th.token('admin') });
    expect([201, 202]).toContain(r.status);
    await waitFor(() => th.running.hub.spawns.get('alice', '')?.phase === 'running', 30_000, 100);
  }, 60_000);

  afterAll(async () => {
    await th?.teardown();
    await off?.teardown();
  }, 60_000);

  it('is off unless enabled: the page and the socket answer 404', async () => {
    const b = new Browser(off.url);
    await b.login('alice');
    const { res } = await b.follow('/hub/shell/alice');
    expect(res.status).toBe(404);
    expect(await res.text()).toContain('The web shell is not enabled on this hub');
    const r = await openShell(b, '/hub/shell-socket/alice', { xsrf: 'x' });
    expect(r).toMatchObject({ ok: false, status: 404, body: { message: 'The web shell is not enabled on this hub' } });
  });

  it('a server that is not running gets a readable 409 page, not a terminal', async () => {
    const b = new Browser(th.url);
    await b.login('carol');
    const { res } = await b.follow('/hub/shell/carol');
    expect(res.status).toBe(409);
    const html = await res.text();
    expect(html).toContain('The server is not running; start it first');
    expect(html).not.toContain('shell-config');
  });

  it('refuses a third shell for the same user (429) and frees the slot (and the shell process) when one closes', async () => {
    const b = new Browser(th.url);
    await b.login('alice');
    const { xsrf, socket } = await shellPage(b, '/hub/shell/alice');
    const one = await openShell(b, socket, { xsrf });
    const two = await openShell(b, socket, { xsrf });
    expect(one.ok && two.ok).toBe(true);
    const three = await openShell(b, socket, { xsrf });
    expect(three).toMatchObject({ ok: false, status: 429, body: { message: 'Too many open shells; close one first' } });
    // Closing the page's socket hangs up the shell: its process is gone, not left behind.
    if (!one.ok) throw new Error('refused');
    one.conn.input('echo "pid=$$"\r');
    const pid = Number(/pid=(\d+)/.exec(await one.conn.waitFor(/pid=\d+\r?\n/))![1]);
    expect(alive(pid)).toBe(true);
    one.conn.ws.close();
    await one.conn.closed;
    await waitFor(() => !alive(pid), 5000, 50);
    const again = await waitFor(async () => {
      const r = await openShell(b, socket, { xsrf });
      return r.ok ? r : null;
    }, 5000, 100);
    for (const c of [two, again]) if (c.ok) c.conn.ws.close();
  });

  it('a handshake that fails after the checks (no Sec-WebSocket-Key) does not use up a slot', async () => {
    const b = new Browser(th.url);
    await b.login('alice');
    const { xsrf, socket } = await shellPage(b, '/hub/shell/alice');
    for (let i = 0; i < 3; i++) {
      const res = await new Promise<number>((resolve, reject) => {
        const req = request(`${th.url}${socket}?_xsrf=${encodeURIComponent(xsrf)}`, {
          headers: { Connection: 'Upgrade', Upgrade: 'websocket', Origin: th.url, Cookie: b.cookieHeader(socket) },
        });
        req.on('response', (r) => {
          r.resume();
          resolve(r.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end();
      });
      expect(res).toBe(400);
    }
    const one = await openShell(b, socket, { xsrf });
    const two = await openShell(b, socket, { xsrf });
    expect(one.ok && two.ok).toBe(true);
    for (const c of [one, two]) if (c.ok) c.conn.ws.close();
  });

  it('closes a shell after idleTimeoutSeconds without a keystroke, and keystrokes keep it open', async () => {
    const b = new Browser(th.url);
    await b.login('alice');
    const { xsrf, socket } = await shellPage(b, '/hub/shell/alice');
    const r = await openShell(b, socket, { xsrf });
    if (!r.ok) throw new Error('refused');
    const c = r.conn;
    const t0 = Date.now();
    // Typing every second for 3 s keeps it open past the 2 s timeout.
    for (let i = 0; i < 3; i++) {
      c.input(`echo secret-keystroke-${i}\r`);
      await new Promise((res) => setTimeout(res, 1000));
    }
    expect(c.ws.readyState).toBe(c.ws.OPEN);
    const closed = await c.closed;
    expect(closed.code).toBe(4000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(4000);
    expect(c.notices).toContainEqual({ type: 'closed', reason: 'idle' });
  }, 20_000);

  it('stopping the server ends its open shells (close code 4001) and their processes', async () => {
    const b = new Browser(th.url);
    await b.login('alice');
    const { xsrf, socket } = await shellPage(b, '/hub/shell/alice');
    const r = await openShell(b, socket, { xsrf });
    if (!r.ok) throw new Error('refused');
    r.conn.input('echo "pid=$$"\r');
    const pid = Number(/pid=(\d+)/.exec(await r.conn.waitFor(/pid=\d+\r?\n/))![1]);
    const stop = await th.api('DELETE', '/users/alice/server', { token: th.token('admin') });
    expect([202, 204]).toContain(stop.status);
    const closed = await r.conn.closed;
    expect(closed).toMatchObject({ code: 4001, reason: 'the server stopped' });
    await waitFor(() => !alive(pid), 5000, 50);
  }, 20_000);
});
