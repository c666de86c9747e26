/**
 * The start queue (src/hub/spawn/start-queue.ts): the class on its own (FIFO grants, a cancelled
 * wait leaves the queue, estimates), then a real hub with the local spawner and real processes
 * that take a second to start, one start slot: starts complete in request order, the progress
 * stream and the API model carry the queue position, API clients beyond concurrentSpawnLimit get
 * 429 + Retry-After while a browser user is queued and lands on the pending page, and stopping a
 * queued start removes it from the queue (the one behind moves up, nothing was started).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { StartQueue, queueMessage, type QueuePosition } from '../../src/hub/spawn/start-queue.js';
import { Browser, STUB_NODE, startTestHub, waitFor, type TestHub } from './harness.js';

describe('StartQueue', () => {
  it('grants slots first come first served and admits the next waiter when one is released', async () => {
    const q = new StartQueue(2);
    const order: string[] = [];
    const updates = new Map<string, QueuePosition[]>();
    const take = (key: string) =>
      q
        .acquire(key, new AbortController().signal, (p) => updates.set(key, [...(updates.get(key) ?? []), p]))
        .then((release) => {
          order.push(key);
          return release;
        });
    const r1 = await take('a');
    const r2 = await take('b');
    const pc = take('c');
    const pd = take('d');
    expect(q.running).toBe(2);
    expect(q.length).toBe(2);
    expect(q.positionOf('c')?.position).toBe(1);
    expect(q.positionOf('d')?.position).toBe(2);
    expect(updates.get('d')?.[0]).toMatchObject({ position: 2, queued: 2, estimateSeconds: null });
    r2();
    const rc = await pc;
    expect(order).toEqual(['a', 'b', 'c']);
    // d moved up to first place; the update pass is batched.
    await waitFor(() => updates.get('d')?.at(-1)?.position === 1, 2000, 20);
    // Now one start has finished, so there is an estimate.
    expect(updates.get('d')?.at(-1)?.estimateSeconds).toBeGreaterThanOrEqual(1);
    r1();
    r1(); // releasing twice frees one slot only
    const rd = await pd;
    expect(order).toEqual(['a', 'b', 'c', 'd']);
    expect(q.running).toBe(2);
    rc();
    rd();
    expect(q.running).toBe(0);
  });

  it('a cancelled wait leaves the queue at once and the one behind moves up', async () => {
    const q = new StartQueue(1);
    const lengths: number[] = [];
    const q2 = new StartQueue(1, { queueLength: (n) => lengths.push(n) });
    for (const queue of [q, q2]) {
      const release = await queue.acquire('a', new AbortController().signal, () => undefined);
      const ac = new AbortController();
      const pb = queue.acquire('b', ac.signal, () => undefined);
      const pc = queue.acquire('c', new AbortController().signal, () => undefined);
      expect(queue.positionOf('c')?.position).toBe(2);
      ac.abort(new Error('cancelled by test'));
      await expect(pb).rejects.toThrow('cancelled by test');
      expect(queue.positionOf('b')).toBeNull();
      expect(queue.positionOf('c')?.position).toBe(1);
      release();
      (await pc)();
      expect(queue.length).toBe(0);
      expect(queue.running).toBe(0);
    }
    expect(lengths).toEqual([1, 2, 1, 0]);
  });

  it('with 0 slots it admits everything at once', async () => {
    const q = new StartQueue(0);
    const rs = await Promise.all([1, 2, 3].map((i) => q.acquire(`k${i}`, new AbortController().signal, () => undefined)));
    expect(q.running).toBe(3);
    expect(q.length).toBe(0);
    for (const r of rs) r();
  });

  it('words the position for the pending page', () => {
    expect(queueMessage({ position: 1, queued: 4, estimateSeconds: 5 })).toMatch(/next in the start queue \(about 5 s\)/);
    expect(queueMessage({ position: 3, queued: 4, estimateSeconds: 130 })).toMatch(/number 3 of 4 .*about 2 min/);
    expect(queueMessage({ position: 2, queued: 2, estimateSeconds: null })).not.toMatch(/about/);
  });
});

/** Read a progress event stream until the server is ready or failed; every event, with its arrival time. */
async function readProgress(res: Response): Promise<{ at: number; e: Record<string, unknown> }[]> {
  const out: { at: number; e: Record<string, unknown> }[] = [];
  const decoder = new TextDecoder();
  let buf = '';
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buf += decoder.decode(chunk, { stream: true });
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const line = block.split('\n').find((l) => l.startsWith('data: '));
      if (!line) continue;
      const e = JSON.parse(line.slice(6)) as Record<string, unknown>;
      out.push({ at: performance.now(), e });
      if (e.ready || e.failed) return out;
    }
  }
  return out;
}

describe('start queue in a real hub (local spawner, one slot)', () => {
  let th: TestHub;
  let admin: string;
  beforeAll(async () => {
    th = await startTestHub({
      spawner: {
        // A real server process that needs a second to come up, like a small notebook server.
        local: { cmd: ['sh', '-c', 'sleep 1; exec node "$0"', STUB_NODE] },
        startQueue: { slots: 1 },
        concurrentSpawnLimit: 3,
        slowSpawnTimeoutSeconds: 0,
      },
    });
    admin = th.token('admin');
  }, 60_000);
  afterAll(async () => th?.teardown(), 60_000);

  const model = async (name: string) => {
    const res = await th.api('GET', `/users/${name}`, { token: admin });
    return (await res.json()) as { servers?: Record<string, { ready: boolean; pending: string | null; queue_position: number | null }> };
  };
  const stopAll = async (names: string[]) => {
    for (const n of names) await (await th.api('DELETE', `/users/${n}/server`, { token: admin })).arrayBuffer();
    await waitFor(async () => {
      for (const n of names) if ((await model(n)).servers?.['']) return false;
      return true;
    }, 30_000);
  };

  it('API starts run in request order, report their place, and the one beyond the hard limit gets 429 + Retry-After', async () => {
    const users = ['q1', 'q2', 'q3'];
    for (const u of users) th.token(u);
    th.token('q4');
    const streams: Promise<{ at: number; e: Record<string, unknown> }[]>[] = [];
    for (const u of users) {
      const res = await th.api('POST', `/users/${u}/server`, { token: admin });
      expect(res.status).toBe(202);
      await res.arrayBuffer();
      const sse = await th.api('GET', `/users/${u}/server/progress`, { token: admin });
      expect(sse.status).toBe(200);
      streams.push(readProgress(sse));
    }
    // q1 holds the slot, q2 and q3 wait: the model says where.
    expect((await model('q2')).servers?.['']?.queue_position).toBe(1);
    expect((await model('q3')).servers?.['']?.queue_position).toBe(2);
    // Three pending spawns = concurrentSpawnLimit: an API client is refused, told when to come back.
    const refused = await th.api('POST', '/users/q4/server', { token: admin });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(((await refused.json()) as { message: string }).message).toMatch(/Too many users/);

    const logs = await Promise.all(streams);
    const readyAt = logs.map((l) => l.find((x) => x.e.ready)?.at ?? NaN);
    for (const l of logs) expect(l.at(-1)?.e.ready, JSON.stringify(l.map((x) => x.e))).toBe(true);
    // One slot: each start completes before the next begins, so readiness follows request order.
    expect(readyAt[0]).toBeLessThan(readyAt[1]!);
    expect(readyAt[1]).toBeLessThan(readyAt[2]!);
    // q3 was told its place, then that it moved up, then that its turn came.
    const q3Positions = logs[2]!.filter((x) => x.e.queue).map((x) => (x.e.queue as { position: number }).position);
    expect(q3Positions[0]).toBe(2);
    expect(q3Positions.at(-1)).toBe(1);
    expect(logs[2]!.some((x) => /number 2 of 2 in the start queue/.test(String(x.e.message)))).toBe(true);
    expect(logs[2]!.some((x) => /Your turn/.test(String(x.e.message)))).toBe(true);
    // q1 got the free slot at once and never queued.
    expect(logs[0]!.some((x) => x.e.queue)).toBe(false);
    for (const u of users) expect((await model(u)).servers?.['']?.ready).toBe(true);

    const wait = await th.running.hub.metrics.registry.getSingleMetricAsString('atrium_start_queue_wait_seconds');
    expect(Number(/atrium_start_queue_wait_seconds_count (\d+)/.exec(wait)?.[1])).toBe(2);
    const len = await th.running.hub.metrics.registry.getSingleMetricAsString('atrium_start_queue_length');
    expect(len).toMatch(/atrium_start_queue_length 0/);
    await stopAll(users);
  }, 60_000);

  it('a browser user beyond the hard limit is queued (pending page, not 429); stopping a queued start leaves the queue', async () => {
    for (const u of ['r1', 'r2']) th.token(u);
    for (const u of ['r1', 'r2']) {
      const res = await th.api('POST', `/users/${u}/server`, { token: admin });
      expect(res.status).toBe(202);
      await res.arrayBuffer();
    }
    // r1 runs, r2 waits; the next two people click Start in their browsers.
    const b1 = new Browser(th.url);
    const b2 = new Browser(th.url);
    await b1.login('b1');
    await b2.login('b2');
    for (const b of [b1, b2]) {
      const res = await b.request('GET', '/hub/spawn');
      expect(res.status).toBe(302);
      expect(res.headers.get('location')).toMatch(/\/hub\/spawn-pending\/b[12]/);
      await res.arrayBuffer();
      const page = await b.follow(res.headers.get('location')!);
      expect(page.res.status).toBe(200);
      await page.res.arrayBuffer();
    }
    expect((await model('b1')).servers?.['']?.queue_position).toBe(2);
    expect((await model('b2')).servers?.['']?.queue_position).toBe(3);
    // An API client at the same moment is still refused.
    th.token('r3');
    const refused = await th.api('POST', '/users/r3/server', { token: admin });
    expect(refused.status).toBe(429);
    await refused.arrayBuffer();

    // b1 gives up while waiting: it leaves the queue, b2 moves up, no process was started for b1.
    const del = await th.api('DELETE', '/users/b1/server', { token: admin });
    expect(del.status).toBe(204);
    await del.arrayBuffer();
    expect((await model('b1')).servers?.['']).toBeUndefined();
    expect(th.running.hub.spawns.queue.positionOf('b1/')).toBeNull();
    expect((await model('b2')).servers?.['']?.queue_position).toBe(2);
    const row = th.running.hub.stores.servers.get(th.running.hub.stores.users.get('b1')!.id, '');
    expect(row?.status).toBe('stopped');
    expect(row?.url).toBeNull();

    await waitFor(async () => (await model('b2')).servers?.['']?.ready === true, 30_000);
    expect((await model('r2')).servers?.['']?.ready).toBe(true);
    await sleep(100);
    await stopAll(['r1', 'r2', 'b2']);
  }, 60_000);
});
