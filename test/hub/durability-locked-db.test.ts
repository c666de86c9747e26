/**
 * A database locked by another process (BEGIN EXCLUSIVE held for 10 s, as a backup tool or an
 * admin's sqlite3 shell would) must not freeze the hub: pages and reads keep answering without
 * waiting for the lock, bookkeeping writes (token last_activity) are skipped, and requests that
 * must write get a catalogued 503 with Retry-After, never a 500. Runs the real hub process and
 * the real atrium-proxy; the lock is held by a second real process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hubProcess, type HubProcess } from './hub-process.js';
import { Browser } from './harness.js';

const ROOT = new URL('../../', import.meta.url).pathname;

/** A second process that takes the SQLite write lock and holds it for `ms`. */
const LOCKER = `
const Database = require(${JSON.stringify(join(ROOT, 'node_modules/better-sqlite3'))});
const db = new Database(process.argv[1]);
db.pragma('busy_timeout = 5000');
db.exec('BEGIN EXCLUSIVE');
process.stdout.write('locked\\n');
setTimeout(() => { db.exec('COMMIT'); db.close(); process.stdout.write('released\\n'); }, Number(process.argv[2]));
`;

function holdLock(dbFile: string, ms: number): Promise<{ child: ChildProcess; released: Promise<void> }> {
  const child = spawn(process.execPath, ['-e', LOCKER, dbFile, String(ms)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  const released = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('locked')) resolve({ child, released });
    });
    child.once('exit', (code) => reject(new Error(`locker exited early (${code})`)));
  });
}

async function timed(fn: () => Promise<Response>): Promise<{ status: number; ms: number; res: Response; body: string }> {
  const t0 = performance.now();
  const res = await fn();
  const body = await res.text();
  return { status: res.status, ms: Math.round(performance.now() - t0), res, body };
}

describe('a database locked by another process', () => {
  let hp: HubProcess;
  let locker: ChildProcess | null = null;
  beforeAll(async () => {
    hp = await hubProcess();
    await hp.start();
  });
  afterAll(async () => {
    if (locker?.exitCode === null && locker.pid) process.kill(locker.pid, 'SIGKILL');
    await hp?.teardown();
  });

  it('keeps pages and reads fast, answers writes 503 + Retry-After, never 500', async () => {
    const browser = new Browser(hp.url);
    const login = await browser.login('alice');
    expect(login.res.status).toBe(200);
    const admin = hp.token('admin');
    const fresh = hp.token('alice');
    const freshDuringLock = hp.token('alice');
    // Warm the admin token's last_activity so only the fresh token has a first use pending.
    expect((await hp.api('GET', '/users/alice', { token: admin })).status).toBe(200);

    const requests = {
      home: () => browser.request('GET', '/hub/home'),
      userApi: () => hp.api('GET', '/users/alice', { token: admin }),
      freshToken: () => hp.api('GET', '/user', { token: fresh }),
    };
    const before: Record<string, number> = {};
    for (const [name, fn] of Object.entries(requests)) before[name] = (await timed(fn)).ms;

    const lock = await holdLock(join(hp.stateDir, 'atrium.sqlite'), 10_000);
    locker = lock.child;
    const during: Record<string, { status: number; ms: number }> = {};
    requests.freshToken = () => hp.api('GET', '/user', { token: freshDuringLock });
    // The fresh token's first use comes first: its last_activity write meets the lock. A page
    // asked for at the same time shows whether the hub's event loop stalled meanwhile.
    const [first, concurrent] = await Promise.all([timed(requests.freshToken), sleep(10).then(() => timed(requests.home))]);
    during.freshToken = { status: first.status, ms: first.ms };
    during.homeConcurrent = { status: concurrent.status, ms: concurrent.ms };
    for (const name of ['home', 'userApi', 'home', 'userApi'] as const) {
      const r = await timed(requests[name]);
      during[`${name}${name in during ? '2' : ''}`] = { status: r.status, ms: r.ms };
    }
    const write = await timed(() => hp.api('POST', '/users/bob', { token: admin }));
    during.write = { status: write.status, ms: write.ms };
    // A page that must write (a login stores a session) gets the 503 page, not a 500.
    const t0 = performance.now();
    const newcomer = await new Browser(hp.url).login('carol');
    during.loginPage = { status: newcomer.res.status, ms: Math.round(performance.now() - t0) };
    console.log('latency before lock (ms)', before, 'while locked', during);
    expect(newcomer.res.status).toBe(503);
    expect(newcomer.res.headers.get('content-type')).toMatch(/text\/html/);
    expect(newcomer.res.headers.get('retry-after')).toBeTruthy();
    await newcomer.res.arrayBuffer();
    for (const [name, r] of Object.entries(during)) if (name !== 'write' && name !== 'loginPage') expect(r.status, name).toBe(200);
    expect(write.status, write.body).toBe(503);
    expect(Number(write.res.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(JSON.parse(write.body)).toMatchObject({ status: 503 });

    // Nothing waited for the 10 s lock: every answer came back while it was still held.
    expect(locker.exitCode).toBeNull();
    for (const [name, r] of Object.entries(during)) expect(r.ms, name).toBeLessThan(3000);

    await lock.released;
    const after = await hp.api('POST', '/users/bob', { token: admin });
    expect(after.status).toBe(201);
    expect(hp.output()).not.toMatch(/database is locked/i);
    // The fresh token's first-use record was skipped while locked, not queued as an error.
    const db = hp.db();
    try {
      const rows = db.prepare("SELECT last_activity FROM api_tokens WHERE user_id = (SELECT id FROM users WHERE name = 'alice') ORDER BY id").all() as { last_activity: string | null }[];
      expect(rows.at(-1)!.last_activity).toBeNull();
    } finally {
      db.close();
    }
  }, 60_000);
});
