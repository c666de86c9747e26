/**
 * Keep-alive connections to targets for the lean path (fast-path.ts): raw TCP sockets, one LIFO
 * stack of idle ones per target host:port. LIFO keeps a few hot sockets busy and lets the rest
 * age out. There is no cap per target, for the same reason as the undici pool: a notebook's
 * long-polls must never queue behind each other.
 *
 * Each socket gets its listeners once, at connect; an `owner` field says which client exchange
 * its bytes belong to, so a request costs no listener churn and no timer (idle sockets are
 * swept by one interval, not one timer each).
 *
 * Reads use `onread` (decision 0026): the kernel copies into a buffer the connection keeps,
 * and the bytes go straight to the owner, without a Buffer allocated per read, a 'data' event,
 * the readable stream's bookkeeping or its next-tick read-ahead. The price is a lifetime rule:
 * the bytes handed to `onUpstreamData` are overwritten by the connection's next read, so the
 * owner copies what it keeps and calls `releaseBuffer()` when a write still refers to them (a
 * client that has not taken everything yet); the connection then reads into a fresh buffer and
 * the old one lives as long as that write.
 */
import { connect, type Socket } from 'node:net';

/** What a pooled connection reports to the exchange that holds it. */
export interface UpstreamOwner {
  onUpstreamData(conn: UpstreamConn, chunk: Buffer): void;
  onUpstreamClose(conn: UpstreamConn): void;
}

/** An idle socket older than this is closed (undici's default keep-alive is 4 s, node's server 5 s). */
const IDLE_MS = 4_000;
const SWEEP_MS = 1_000;
/**
 * Read buffer of a connection: small first (a pool of idle keep-alive sockets should not pin
 * 64 KB each), grown to node's usual 64 KB read size once a read fills it (a large body).
 */
const READ_SMALL = 16 * 1024;
const READ_LARGE = 64 * 1024;
/**
 * `ATRIUM_PROXY_LEAN_READ=stream` reads targets through 'data' events as before 0026; kept only
 * so the benchmark can compare both in one build (bench/proxy/workers.mjs).
 */
const STREAM_READS = process.env.ATRIUM_PROXY_LEAN_READ === 'stream';

export class UpstreamConn {
  owner: UpstreamOwner | null = null;
  /** Responses completed on this socket: > 0 means it was reused, so a failure may be staleness. */
  served = 0;
  idleSince = 0;
  /** The error the socket died with, if any (its code picks 502/503/504). */
  error: (Error & { code?: string }) | null = null;
  /** Bytes received while the current owner held it: 0 at close means "nothing answered". */
  received = 0;
  readonly socket: Socket;
  /** The buffer the next read lands in (see the file comment for its lifetime rule). */
  private buf: Buffer | null = null;

  constructor(readonly key: string, host: string, port: number, pool: UpstreamPool) {
    const socket = STREAM_READS
      ? connect({ host, port, noDelay: true })
      : connect({ host, port, noDelay: true, onread: { buffer: this.nextBuffer, callback: this.onRead } });
    this.socket = socket;
    if (STREAM_READS) socket.on('data', (chunk: Buffer) => this.deliver(chunk));
    socket.on('error', (err) => {
      this.error = err;
    });
    socket.on('close', () => {
      pool.forget(this);
      const owner = this.owner;
      this.owner = null;
      owner?.onUpstreamClose(this);
    });
  }

  /**
   * The bytes just handed to the owner must outlive this read (a write still holds them): the
   * next read goes to a new buffer. A no-op for stream reads, whose chunks are never reused.
   */
  releaseBuffer(): void {
    if (!STREAM_READS) this.buf = null;
  }

  /** node calls this for the first read and after every read: the buffer for the next one. */
  private readonly nextBuffer = (): Buffer => {
    let b = this.buf;
    if (b === null) {
      b = Buffer.allocUnsafe(READ_SMALL);
      this.buf = b;
    }
    return b;
  };

  /** `buf` is the buffer nextBuffer() gave (a Buffer); returning true keeps reading. */
  private readonly onRead = (n: number, read: Uint8Array): boolean => {
    const buf = read as Buffer;
    // A read that filled the buffer: a large body is coming; read it in node's usual 64 KB
    // steps. (Set before the owner runs, which may drop the buffer instead.)
    if (n === buf.length && buf.length < READ_LARGE) this.buf = Buffer.allocUnsafe(READ_LARGE);
    this.deliver(n === buf.length ? buf : buf.subarray(0, n));
    return true;
  };

  private deliver(chunk: Buffer): void {
    this.received += chunk.length;
    if (this.owner !== null) this.owner.onUpstreamData(this, chunk);
    else this.socket.destroy(); // bytes nobody asked for: the connection is out of step
  }
}

export class UpstreamPool {
  private readonly idle = new Map<string, UpstreamConn[]>();
  private readonly sweeper: NodeJS.Timeout;

  constructor() {
    this.sweeper = setInterval(() => this.sweep(), SWEEP_MS);
    this.sweeper.unref();
  }

  /** An idle connection to host:port (the most recently used), or a new one. */
  acquire(key: string, host: string, port: number, owner: UpstreamOwner): UpstreamConn {
    const stack = this.idle.get(key);
    let conn = stack !== undefined && stack.length > 0 ? stack.pop()! : undefined;
    if (conn === undefined || conn.socket.destroyed) conn = new UpstreamConn(key, host, port, this);
    conn.owner = owner;
    conn.received = 0;
    return conn;
  }

  /** Back to the pool after a complete response. */
  release(conn: UpstreamConn, now = Date.now()): void {
    conn.owner = null;
    conn.served++;
    if (conn.socket.destroyed) return;
    conn.idleSince = now;
    let stack = this.idle.get(conn.key);
    if (stack === undefined) {
      stack = [];
      this.idle.set(conn.key, stack);
    }
    stack.push(conn);
  }

  /** A closed socket leaves the idle stack (if it was there). */
  forget(conn: UpstreamConn): void {
    const stack = this.idle.get(conn.key);
    if (stack === undefined) return;
    const i = stack.indexOf(conn);
    if (i >= 0) stack.splice(i, 1);
    if (stack.length === 0) this.idle.delete(conn.key);
  }

  private sweep(): void {
    const old = Date.now() - IDLE_MS;
    for (const stack of this.idle.values()) {
      // oldest first: LIFO leaves the longest-idle sockets at the bottom
      while (stack.length > 0 && stack[0]!.idleSince < old) stack.shift()!.socket.destroy();
    }
  }

  destroy(): void {
    clearInterval(this.sweeper);
    for (const stack of this.idle.values()) for (const c of stack) c.socket.destroy();
    this.idle.clear();
  }
}
