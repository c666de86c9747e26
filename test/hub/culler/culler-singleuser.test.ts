/**
 * The built-in idle culler against real jupyterhub-singleuser servers (Debian jupyterhub 3.0 +
 * notebook 6): alice runs `time.sleep(600)` in a kernel and closes the websocket (no browser
 * open), dora has a tab open on an idle kernel, bob does nothing. With a short timeout, one culler round stops bob (reason idle) and
 * keeps alice (busy kernel) and dora (open connection), and /hub/metrics says so. A second hub with inspectKernels off shows
 * the other side: alice's busy server is culled, which is what jupyterhub-idle-culler does.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { startTestHub, waitFor, type TestHub } from '../harness.js';

const TIMEOUT_S = 6;

function config(inspectKernels: boolean) {
  return {
    spawner: { local: { cmd: ['jupyterhub-singleuser'] }, startTimeoutSeconds: 60, httpTimeoutSeconds: 60, slowSpawnTimeoutSeconds: 1 },
    // The round is driven by the test (runOnce); the timer would only race it.
    culler: { enabled: true, timeoutSeconds: TIMEOUT_S, intervalSeconds: 3600, inspectKernels },
  };
}

async function startServer(th: TestHub, admin: string, user: string): Promise<void> {
  th.token(user); // creates the user
  const r = await th.api('POST', `/users/${user}/server`, { token: admin });
  expect([201, 202]).toContain(r.status);
  await waitFor(async () => {
    const res = await th.api('GET', `/users/${user}`, { token: admin });
    return ((await res.json()) as { servers: Record<string, { ready: boolean }> }).servers['']?.ready;
  }, 90_000, 250);
}

/** Start a kernel through the proxy and leave a websocket open to it (an open notebook tab), idle. */
async function openKernelTab(th: TestHub, user: string): Promise<WebSocket> {
  const token = th.token(user);
  const k = await fetch(`${th.url}/user/${user}/api/kernels`, { method: 'POST', headers: { Authorization: `token ${token}`, 'Content-Type': 'application/json' }, body: '{}' });
  expect(k.status).toBe(201);
  const kernel = (await k.json()) as { id: string };
  const ws = new WebSocket(`${th.url.replace('http', 'ws')}/user/${user}/api/kernels/${kernel.id}/channels`, { headers: { Authorization: `token ${token}` } });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  // "An idle kernel", as a browser tab leaves it: the tab asks for kernel_info first; until that
  // is answered the server reports the kernel starting/busy (slowly on a loaded machine), so wait
  // until the server itself says idle before the culler looks at it.
  const infoId = randomUUID();
  const answered = new Promise<void>((resolve) => {
    ws.on('message', (data) => {
      const m = JSON.parse(String(data)) as { msg_type: string; parent_header: { msg_id?: string } };
      if (m.msg_type === 'kernel_info_reply' && m.parent_header.msg_id === infoId) resolve();
    });
  });
  const kernelInfo = (msgId: string) => ws.send(JSON.stringify({
    header: { msg_id: msgId, username: user, session: randomUUID(), msg_type: 'kernel_info_request', version: '5.3', date: new Date().toISOString() },
    parent_header: {}, metadata: {}, content: {}, channel: 'shell', buffers: [],
  }));
  kernelInfo(infoId);
  await answered;
  const deadline = Date.now() + 90_000;
  let nudged = Date.now();
  for (;;) {
    // The server learns the state from the kernel's status messages; under load it can miss the
    // first "idle" and report "starting" until the kernel publishes again. Another
    // kernel_info_request (what a reconnecting tab sends) makes it publish busy → idle.
    if (Date.now() - nudged > 5000) {
      kernelInfo(randomUUID());
      nudged = Date.now();
    }
    const r = await fetch(`${th.url}/user/${user}/api/kernels/${kernel.id}`, { headers: { Authorization: `token ${token}` } });
    const state = r.ok ? ((await r.json()) as { execution_state?: string }).execution_state : undefined;
    if (state === 'idle') break;
    if (Date.now() > deadline) throw new Error(`kernel of ${user} still ${state} after 90 s`);
    await new Promise((res) => setTimeout(res, 250));
  }
  return ws;
}

/** Start a kernel through the proxy, run a long sleep, wait for "busy", close the websocket. */
async function busyKernel(th: TestHub, user: string): Promise<string> {
  const token = th.token(user);
  const headers = { Authorization: `token ${token}`, 'Content-Type': 'application/json' };
  const k = await fetch(`${th.url}/user/${user}/api/kernels`, { method: 'POST', headers, body: '{}' });
  expect(k.status).toBe(201);
  const kernel = (await k.json()) as { id: string };
  const ws = new WebSocket(`${th.url.replace('http', 'ws')}/user/${user}/api/kernels/${kernel.id}/channels`, { headers: { Authorization: `token ${token}` } });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const msgId = randomUUID();
  const busy = new Promise<void>((resolve) => {
    ws.on('message', (data) => {
      const m = JSON.parse(String(data)) as { channel: string; msg_type: string; parent_header: { msg_id?: string }; content: { execution_state?: string } };
      if (m.msg_type === 'status' && m.parent_header.msg_id === msgId && m.content.execution_state === 'busy') resolve();
    });
  });
  ws.send(JSON.stringify({
    header: { msg_id: msgId, username: user, session: randomUUID(), msg_type: 'execute_request', version: '5.3', date: new Date().toISOString() },
    parent_header: {},
    metadata: {},
    content: { code: 'import time; time.sleep(600)', silent: false, store_history: false, user_expressions: {}, allow_stdin: false, stop_on_error: true },
    channel: 'shell',
    buffers: [],
  }));
  await busy;
  ws.close();
  await new Promise((r) => ws.once('close', r));
  return kernel.id;
}

async function metric(th: TestHub, re: RegExp): Promise<number> {
  const m = re.exec(await th.running.hub.metrics.registry.metrics());
  return m ? Number(m[1]) : 0;
}

const running = async (th: TestHub, admin: string, user: string) => {
  const res = await th.api('GET', `/users/${user}`, { token: admin });
  return ((await res.json()) as { servers: Record<string, { ready: boolean }> }).servers['']?.ready === true;
};

describe('idle culler with real single-user servers', () => {
  let th: TestHub;
  let admin: string;
  let tab: WebSocket | undefined;
  beforeAll(async () => {
    th = await startTestHub(config(true));
    admin = th.token('admin');
    await Promise.all([startServer(th, admin, 'alice'), startServer(th, admin, 'bob'), startServer(th, admin, 'dora')]);
  });
  afterAll(async () => {
    tab?.close();
    await th?.teardown();
  });

  it('culls the idle server, keeps the one whose kernel is busy, and counts both in the metrics', async () => {
    await busyKernel(th, 'alice');
    // dora has a notebook tab open on an idle kernel, and no websocket traffic after the start.
    tab = await openKernelTab(th, 'dora');
    const culler = th.running.culler!;
    // Before the timeout nobody is culled. Fresh activity reports (as each singleuser sends them)
    // make this independent of how long the starts above took on a loaded machine.
    for (const u of ['alice', 'bob', 'dora']) {
      const r = await th.api('POST', `/users/${u}/activity`, { token: admin, body: { servers: { '': { last_activity: new Date().toISOString() } } } });
      expect(r.status).toBe(200);
    }
    const early = await culler.runOnce();
    expect(early.map((v) => v.outcome).sort()).toEqual(['active', 'active', 'active']);

    await new Promise((r) => setTimeout(r, (TIMEOUT_S + 2) * 1000));
    const verdicts = await culler.runOnce();
    const by = Object.fromEntries(verdicts.map((v) => [v.user, v]));
    expect(by.bob).toMatchObject({ outcome: 'culled', reason: 'idle' });
    expect(by.bob!.idleSeconds).toBeGreaterThanOrEqual(TIMEOUT_S);
    expect(by.alice).toMatchObject({ outcome: 'busy_kernel' });
    expect(by.dora).toMatchObject({ outcome: 'open_connection' });
    expect(await running(th, admin, 'bob')).toBe(false);
    expect(await running(th, admin, 'alice')).toBe(true);

    expect(await metric(th, /atrium_culler_culled_total\{kind="server",reason="idle"\} (\d+)/)).toBe(1);
    expect(await metric(th, /atrium_culler_servers_inspected_total\{outcome="busy_kernel"\} (\d+)/)).toBe(1);
    expect(await metric(th, /atrium_culler_check_duration_seconds_count (\d+)/)).toBe(2);
    // The probe asked with no_track_activity: the busy server's own clock did not move, and the
    // probe token is never counted as alice's activity.
    const aliceRow = th.running.hub.stores.users.get('alice')!;
    const probe = th.running.hub.stores.tokens.ofUser(aliceRow.id).find((t) => t.note === 'Idle culler probe');
    expect(probe?.server_id).not.toBeNull();

    // Stopping alice deletes the probe token with the server's own.
    await th.api('DELETE', '/users/alice/server', { token: admin });
    await waitFor(() => !th.running.hub.spawns.get('alice', ''), 30_000, 250);
    expect(th.running.hub.stores.tokens.ofUser(aliceRow.id).some((t) => t.note === 'Idle culler probe')).toBe(false);
  }, 150_000);
});

describe('idle culler without asking the servers (what jupyterhub-idle-culler sees)', () => {
  let th: TestHub;
  let admin: string;
  beforeAll(async () => {
    th = await startTestHub(config(false));
    admin = th.token('admin');
    await startServer(th, admin, 'carol');
  });
  afterAll(async () => {
    await th?.teardown();
  });

  it('culls a server whose kernel is busy when recorded activity is all it has', async () => {
    await busyKernel(th, 'carol');
    await new Promise((r) => setTimeout(r, (TIMEOUT_S + 2) * 1000));
    const verdicts = await th.running.culler!.runOnce();
    expect(verdicts).toMatchObject([{ user: 'carol', outcome: 'culled', reason: 'idle' }]);
    expect(await running(th, admin, 'carol')).toBe(false);
  }, 120_000);
});
