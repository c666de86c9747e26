/**
 * While the restore has not finished, requests that touch servers are held and, past the hold
 * time, answered 503 with Retry-After (JSON for the API, a page for pages); health and info
 * answer at once. The real hub in-process; only the "restore is still running" condition is
 * forced, by swapping in a closed gate with a short hold, because a real restore finishes too
 * fast to hold it open on demand.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RestoreGate } from '../../src/hub/spawn/restore-gate.js';
import { startTestHub, type TestHub } from './harness.js';

describe('restore gate', () => {
  let th: TestHub;
  let admin = '';
  let realGate: RestoreGate;
  beforeAll(async () => {
    th = await startTestHub();
    admin = th.token('admin');
    realGate = th.running.hub.spawns.gate;
  });
  afterAll(async () => {
    (th.running.hub.spawns as { gate: RestoreGate }).gate = realGate;
    await th?.teardown();
  });

  const closeGate = (holdMs: number) => {
    const g = new RestoreGate(holdMs);
    (th.running.hub.spawns as { gate: RestoreGate }).gate = g;
    return g;
  };

  it('the gate of a started hub is open', () => {
    expect(realGate.isOpen).toBe(true);
  });

  it('API calls that touch servers get 503 + Retry-After with a JSON message; health answers', async () => {
    closeGate(200);
    for (const [method, path] of [['GET', '/users/admin'], ['POST', '/users/admin/server'], ['DELETE', '/users/admin/server'], ['GET', '/users']]) {
      const r = await th.api(method!, path!, { token: admin });
      expect(r.status, `${method} ${path}`).toBe(503);
      expect(r.headers.get('retry-after')).toBe('2');
      const body = (await r.json()) as { status: number; message: string };
      expect(body.status).toBe(503);
      expect(body.message).toMatch(/re-attaching servers/);
    }
    for (const path of ['/health', '/info', '']) {
      const r = await th.api('GET', path, { token: admin });
      await r.arrayBuffer();
      expect(r.status, path).toBe(200);
    }
  });

  it('pages get a 503 page, not a stack trace', async () => {
    closeGate(200);
    for (const path of ['/hub/home', '/hub/spawn', '/hub/spawn-pending/admin', '/user-redirect/tree', '/hub/user/admin/']) {
      const r = await fetch(`${th.url}${path}`, { redirect: 'manual' });
      const text = await r.text();
      expect(r.status, path).toBe(503);
      expect(r.headers.get('content-type')).toMatch(/text\/html/);
      expect(text).toMatch(/re-attaching servers/);
      expect(text).not.toMatch(/at .*\.js:\d+/);
    }
  });

  it('a held request proceeds once the restore is done', async () => {
    const g = closeGate(5000);
    const pending = th.api('GET', '/users/admin', { token: admin });
    await new Promise((r) => setTimeout(r, 300));
    g.open();
    const r = await pending;
    expect(r.status).toBe(200);
    expect(((await r.json()) as { name: string }).name).toBe('admin');
  });
});
