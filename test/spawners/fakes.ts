/**
 * Named fake spawners for hub-level failure tests (DESIGN "Style" 8): each one is a failure mode
 * the real backends show only slowly or by accident. They run in the test process, so a test can
 * see exactly what the hub asked of them (start, poll, stop calls) without a stub process whose
 * behaviour hides in the user name.
 *
 *   const fakes = new FakeSpawners();
 *   fakes.assign('alice', neverStarts());
 *   fakes.kind.create(...)        // what the hub's registry returns for `spawner.kind: fake`
 *
 * A fake that "starts" listens on 127.0.0.1 with a tiny HTTP server, because the hub's readiness
 * wait is real HTTP and is part of what the hub-level tests cover.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Type } from '@sinclair/typebox';
import {
  SpawnError,
  type PollResult,
  type ProgressEvent,
  type SpawnContext,
  type Spawner,
  type SpawnerDescriptor,
  type SpawnerKind,
  type SpawnerState,
  type StopOptions,
} from '../../src/spawners/spawner.js';

/** One failure mode (or the plain success `startsFine`). */
export interface Fake {
  readonly name: string;
  /** Resolve with the server's URL, or reject. `server` is listening when this is called. */
  start(ctx: SpawnContext, io: FakeIo): Promise<{ url: string }>;
  /** Called after start() resolved: schedules whatever happens to a running server. */
  afterStart?(io: FakeIo): void;
  /** Extra time stop() takes before the server is gone. */
  stopDelayMs?: number;
  /** Progress events offered while start() runs. */
  progress?: ProgressEvent[];
}

/** What a fake can do to its own server. */
export interface FakeIo {
  listen(): Promise<string>;
  /** The server is gone by itself (crash): poll() reports `reason` from now on. */
  die(reason: string): void;
}

/** Everything the hub did to one fake spawner object. */
export interface FakeRecord {
  user: string;
  serverName: string;
  fake: string;
  calls: string[];
  ctx: SpawnContext | null;
  running: boolean;
}

/** Servers that still run, by URL: what a restored fake re-attaches to. */
const BACKEND = new Map<string, Server>();

const serve = (): Promise<Server> =>
  new Promise((resolve, reject) => {
    const s = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('fake server\n'));
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => resolve(s));
  });

/** Resolves at once with a server that answers HTTP. */
export function startsFine(): Fake {
  return { name: 'startsFine', start: async (_ctx, io) => ({ url: await io.listen() }) };
}

/** start() never resolves; it only ends when the hub aborts ctx.signal (the start timeout). */
export function neverStarts(): Fake {
  return {
    name: 'neverStarts',
    start: (ctx) =>
      new Promise((_, reject) => {
        const fail = () => reject(new SpawnError('neverStarts: aborted by the hub'));
        if (ctx.signal.aborted) fail();
        else ctx.signal.addEventListener('abort', fail, { once: true });
      }),
  };
}

/** Starts and answers, then exits by itself after `afterMs` (exit status 1). */
export function diesAfterStart(afterMs = 300): Fake {
  return {
    name: 'diesAfterStart',
    start: async (_ctx, io) => ({ url: await io.listen() }),
    afterStart: (io) => void sleep(afterMs).then(() => io.die('diesAfterStart: exited with status 1')),
  };
}

/** Starts fine; stop() takes `stopMs` before the server is gone (a graceful shutdown). */
export function slowStop(stopMs = 1500): Fake {
  return { name: 'slowStop', start: async (_ctx, io) => ({ url: await io.listen() }), stopDelayMs: stopMs };
}

/** start() rejects with SpawnError(message) after reporting some progress. */
export function failsWith(message: string, detail?: string): Fake {
  return {
    name: `failsWith(${message})`,
    progress: [{ progress: 20, message: 'fake: pulling the image' }],
    start: async () => {
      await sleep(50);
      throw new SpawnError(message, detail);
    },
  };
}

/**
 * start() ignores ctx.signal and, after `afterMs`, listens and resolves: a kind caught between two
 * awaits when the hub gives up on it. Whatever it creates late must still be stopped.
 */
export function ignoresAbort(afterMs = 600): Fake {
  return {
    name: 'ignoresAbort',
    start: async (_ctx, io) => {
      await sleep(afterMs);
      return { url: await io.listen() };
    },
  };
}

class FakeSpawner implements Spawner {
  private server: Server | null = null;
  private url: string | null = null;
  private died: string | null = null;
  private startDone = false;

  constructor(
    private readonly fake: Fake,
    readonly record: FakeRecord,
  ) {}

  private readonly io: FakeIo = {
    listen: async () => {
      this.server = await serve();
      this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
      BACKEND.set(this.url, this.server);
      this.record.running = true;
      return this.url;
    },
    die: (reason) => {
      this.died = reason;
      this.close();
    },
  };

  async start(ctx: SpawnContext): Promise<{ url: string }> {
    this.record.calls.push('start');
    this.record.ctx = ctx;
    try {
      const r = await this.fake.start(ctx, this.io);
      ctx.recordHandle(this.state());
      this.fake.afterStart?.(this.io);
      return r;
    } catch (err) {
      this.close();
      throw err;
    } finally {
      this.startDone = true;
    }
  }

  async stop(opts: StopOptions = {}): Promise<void> {
    this.record.calls.push(opts.immediate ? 'stop(immediate)' : 'stop');
    if (this.fake.stopDelayMs && !opts.immediate && this.server) await sleep(this.fake.stopDelayMs);
    this.close();
  }

  async poll(): Promise<PollResult> {
    this.record.calls.push('poll');
    if (this.died) return { exitStatus: 1, reason: this.died };
    if (!this.server) return { exitStatus: 0, reason: 'not running' };
    return null;
  }

  state(): SpawnerState {
    return this.url ? { url: this.url, fake: this.fake.name } : {};
  }

  restore(state: SpawnerState): void {
    this.record.calls.push('restore');
    // The "backend" outlives the hub objects (as a real process or service would), so a second
    // SpawnManager in the same test process re-attaches to a server the first one started.
    const live = typeof state.url === 'string' ? BACKEND.get(state.url) : undefined;
    if (live) {
      this.server = live;
      this.url = state.url as string;
      this.record.running = true;
    }
  }

  async *progress(): AsyncIterable<ProgressEvent> {
    for (const e of this.fake.progress ?? []) {
      if (this.startDone) return;
      yield e;
    }
  }

  private close(): void {
    this.record.running = false;
    if (this.url) BACKEND.delete(this.url);
    this.server?.closeAllConnections();
    this.server?.close();
    this.server = null;
  }
}

/** The fakes of one test file: assign a fake per user; unassigned users get `startsFine`. */
export class FakeSpawners {
  private readonly plan = new Map<string, Fake>();
  readonly records: FakeRecord[] = [];
  private readonly spawners: FakeSpawner[] = [];

  assign(user: string, fake: Fake): void {
    this.plan.set(user, fake);
  }

  /** Every spawner object made for this user, oldest first. */
  of(user: string): FakeRecord[] {
    return this.records.filter((r) => r.user === user);
  }

  readonly kind: SpawnerKind<unknown> = {
    kind: 'fake',
    create: ({ user, serverName }) => {
      const fake = this.plan.get(user.name) ?? startsFine();
      const record: FakeRecord = { user: user.name, serverName, fake: fake.name, calls: [], ctx: null, running: false };
      this.records.push(record);
      const s = new FakeSpawner(fake, record);
      this.spawners.push(s);
      return s;
    },
  };

  /** A descriptor for the kinds list (vi.mock of src/spawners/kinds.ts), `spawner.kind: fake`. */
  descriptor(): SpawnerDescriptor<unknown> {
    return {
      name: 'fake',
      optionsSchema: Type.Object({}, { additionalProperties: false, default: {}, description: 'Test-only fake spawners.' }),
      serversOnHubHost: true,
      load: async () => this.kind,
    };
  }

  /** Stop every server a fake still runs (afterAll). */
  async stopAll(): Promise<void> {
    await Promise.all(this.spawners.map((s) => s.stop({ immediate: true })));
  }
}

/** The fakes of the current test file (each vitest file runs in its own module graph). */
export const fakeSpawners = new FakeSpawners();
