/**
 * The lean path: plain-HTTP GET and HEAD requests proxied on raw sockets, without node's HTTP
 * server objects or undici's. Profiles put ~60 % of the proxy's CPU per request in those two
 * (IncomingMessage/ServerResponse, llhttp in C and in wasm, undici's Request and pool) and under
 * 3 % in Atrium's own code, so the only way to a CPU cost near nginx's was to not build them for
 * the requests that need nothing they offer: a bodiless request and its answer are copied with
 * the few header edits CHP semantics need, the answer's head and first body bytes in one write.
 *
 * Everything else is handed to node's HTTP server unchanged, with the bytes already read, at a
 * request boundary: other methods and bodies, upgrades, Expect, HTTP/1.0, anything unusual in
 * the head (obs-fold, control bytes, no Host, oversize, a repeated header that node keeps only
 * once, such as Host or Authorization), unknown routes (404 pages), /_chp_healthz, https
 * targets, and every connection of an HTTPS listener. From then on that connection is
 * node's for good, so the slow path stays the single authority for every edge case, and the
 * conformance suite (run against CHP and atrium-proxy alike) guards both.
 *
 * Answers are relayed as they come: Content-Length bodies and chunked bodies byte for byte
 * (their framing is tracked to know where a response ends, so the target connection can be
 * reused), close-delimited bodies re-chunked so the client connection survives; 1xx heads are
 * dropped, as the undici path does. A failure before the answer's head gives the same error
 * page as the slow path (503/504/502); after it, the client connection is cut.
 */
import { STATUS_CODES, maxHeaderSize } from 'node:http';
import type { Socket } from 'node:net';
import type { Context } from './forward.js';
import { PROOF_HEADER, stripHubCookies } from './headers.js';
import { UpstreamPool, type UpstreamConn, type UpstreamOwner } from './lean-pool.js';
import { joinPath, parseRequestUrl, stripPrefix } from './request-path.js';
import type { Route } from './routes.js';

/**
 * Heads are looked for in a latin1 string of a buffer's first bytes rather than with
 * Buffer#indexOf: one native call per head instead of two, and string searches stay in JS.
 */
const HEAD_SCAN = maxHeaderSize + 4;
/** A request line or header line byte that is not plain visible text: let node judge it. */
const ODD_TARGET = /[^\x21-\x7e]/;
/**
 * A control byte anywhere in a head (without its final blank line), other than the CRLF pairs
 * that end its lines and HTAB: one test per head rather than one per line.
 */
const CTL_IN_HEAD = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\r(?!\n)|(?<!\r)\n/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/**
 * Request headers node's server keeps only the first of (the rest it drops); a request repeating
 * one goes to node, so the target sees what the node path would send. One bit each.
 */
const SINGLE = new Map<string, number>();
['content-type', 'user-agent', 'referer', 'authorization', 'proxy-authorization', 'if-modified-since',
  'if-unmodified-since', 'from', 'location', 'max-forwards', 'retry-after', 'etag', 'last-modified',
  'server', 'age', 'expires'].forEach((name, i) => SINGLE.set(name, 1 << i));
const DOWN_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT']);
/** A client that keeps a request head incomplete this long is closed (node's headersTimeout). */
const HEAD_TIMEOUT_MS = 60_000;
/** Pipelined bytes buffered while a response is in flight before the client is paused. */
const MAX_PIPELINED = 64 * 1024;

/** Body framing of the answer being relayed. */
const enum Mode { None, Length, Chunked, Close }
/** Chunked-body scanner states. */
const enum Chunk { Size, Ext, SizeLf, Data, DataCr, DataLf, Trailer, TrailerLf, LastLf }

let dateText = '';
let dateAt = 0;
/** The Date header value, rebuilt at most once a second (node's server caches it the same way). */
function httpDate(now: number): string {
  if (now - dateAt >= 1000) {
    dateAt = now - (now % 1000);
    dateText = new Date(dateAt).toUTCString();
  }
  return dateText;
}

function appendValue(prev: string | undefined, value: string): string {
  return prev === undefined || prev === '' ? value : `${prev},${value}`;
}

export interface LeanPath {
  /** Takes over a freshly accepted client connection. */
  accept(socket: Socket): void;
  /** Closes every client connection the lean path holds and every pooled target connection. */
  closeAll(): void;
}

/**
 * `handover(socket, pending)` gives a connection to node's HTTP server along with bytes already
 * read from it (see createPublicServer).
 */
export function createLeanPath(ctx: Context, handover: (socket: Socket, pending: Buffer | null) => void): LeanPath {
  const pool = new UpstreamPool();
  const conns = new Set<ClientConn>();
  const { options } = ctx;
  const keepAliveHeader = options.keepAliveTimeoutMs >= 1000
    ? `Connection: keep-alive\r\nKeep-Alive: timeout=${Math.floor(options.keepAliveTimeoutMs / 1000)}\r\n`
    : 'Connection: keep-alive\r\n';
  const customNames = new Set(Object.keys(options.customHeaders));
  let customLines = '';
  // not even a --custom-header may put a proof on a route (headers.ts)
  for (const k of customNames) if (k !== PROOF_HEADER) customLines += `${k}: ${options.customHeaders[k]}\r\n`;
  const shared: Shared = { ctx, pool, conns, handover, keepAliveHeader, customNames, customLines };

  // One interval for every time limit (client idle, --timeout, --proxy-timeout, slow heads)
  // instead of a timer armed and cleared per request.
  const limits = [options.keepAliveTimeoutMs, options.timeoutMs, options.proxyTimeoutMs].filter((t) => t > 0);
  const tick = Math.max(25, Math.min(1000, ...limits.map((t) => Math.floor(t / 4))));
  const sweeper = setInterval(() => {
    const now = Date.now();
    for (const c of conns) c.checkTimers(now);
  }, tick);
  sweeper.unref();

  return {
    accept(socket) {
      const c = new ClientConn(shared, socket);
      conns.add(c);
    },
    closeAll() {
      clearInterval(sweeper);
      for (const c of conns) c.socket.destroy();
      conns.clear();
      pool.destroy();
    },
  };
}

interface Shared {
  ctx: Context;
  pool: UpstreamPool;
  conns: Set<ClientConn>;
  handover: (socket: Socket, pending: Buffer | null) => void;
  keepAliveHeader: string;
  customNames: Set<string>;
  customLines: string;
}

/** One client connection; at most one exchange in flight (later pipelined requests wait in `buf`). */
class ClientConn implements UpstreamOwner {
  private buf: Buffer | null = null;
  private headSince = 0;
  private lastActive = Date.now();
  private inFlight = false;
  private remote: string | undefined;
  /** The X-Forwarded-* lines last built for a request without any, and the Host they were for. */
  private xfHost: string | undefined;
  private xfLines = '';

  // the exchange in flight
  private route: Route | null = null;
  private url = '';
  private isHead = false;
  /** The client sent `Connection: close`: answer with it, then end the connection. */
  private closeAfter = false;
  private upHead = '';
  private retried = false;
  private up: UpstreamConn | null = null;
  private upActive = 0;
  private rbuf: Buffer | null = null;
  private headSent = false;
  private status = 0;
  private mode = Mode.None;
  private remaining = 0;
  private chunkState = Chunk.Size;
  private reusable = true;

  private readonly onData = (chunk: Buffer): void => this.receive(chunk);
  private readonly onClose = (): void => this.closed();
  /**
   * The client half-closed (node's server allows half-open sockets): an answer in flight is
   * still written, then the connection ends; nothing in flight, it ends now.
   */
  private readonly onEnd = (): void => {
    if (this.inFlight) this.closeAfter = true;
    else this.socket.end();
  };
  private readonly onError = (): void => undefined; // 'close' follows and does the cleanup
  private readonly resumeUpstream = (): void => {
    this.up?.socket.resume();
  };

  constructor(private readonly s: Shared, readonly socket: Socket) {
    socket.on('data', this.onData);
    socket.on('close', this.onClose);
    socket.on('error', this.onError);
    socket.on('end', this.onEnd);
  }

  private receive(chunk: Buffer): void {
    this.lastActive = Date.now();
    this.buf = this.buf === null ? chunk : Buffer.concat([this.buf, chunk]);
    if (this.inFlight) {
      if (this.buf.length > MAX_PIPELINED) this.socket.pause();
      return;
    }
    this.next();
  }

  /** Starts the next complete request in `buf`, or hands the connection over. */
  private next(): void {
    const buf = this.buf;
    if (buf === null || this.inFlight) return;
    const text = buf.toString('latin1', 0, buf.length < HEAD_SCAN ? buf.length : HEAD_SCAN);
    const end = text.indexOf('\r\n\r\n');
    if (end < 0) {
      // incomplete head: wait, unless it is already too big or uses bare LF line ends
      if (buf.length > maxHeaderSize || text.indexOf('\n\n') >= 0) return this.giveAway();
      if (this.headSince === 0) this.headSince = this.lastActive;
      return;
    }
    this.headSince = 0;
    if (end > maxHeaderSize || !this.start(text.slice(0, end))) return this.giveAway();
    this.buf = end + 4 === buf.length ? null : buf.subarray(end + 4);
  }

  /** Node's HTTP server takes the connection, beginning with the unparsed bytes. */
  private giveAway(): void {
    const { socket } = this;
    socket.off('data', this.onData);
    socket.off('close', this.onClose);
    socket.off('error', this.onError);
    socket.off('end', this.onEnd);
    this.s.conns.delete(this);
    if (socket.isPaused()) socket.resume();
    const pending = this.buf;
    this.buf = null;
    this.s.handover(socket, pending);
  }

  /**
   * Parses a request head (latin1, without the final blank line) and sends it upstream.
   * false = not for the lean path (nothing has been sent).
   */
  private start(head: string): boolean {
    const { ctx, customNames } = this.s;
    const { options } = ctx;
    let eol = head.indexOf('\r\n');
    const line0 = eol < 0 ? head : head.slice(0, eol);
    const sp1 = line0.indexOf(' ');
    const sp2 = line0.indexOf(' ', sp1 + 1);
    if (sp1 < 0 || sp2 < 0) return false;
    const method = line0.slice(0, sp1);
    if (method !== 'GET' && method !== 'HEAD') return false;
    if (line0.slice(sp2 + 1) !== 'HTTP/1.1') return false;
    const target = line0.slice(sp1 + 1, sp2);
    if (target.charCodeAt(0) !== 47 /* / */ || ODD_TARGET.test(target) || target === '/_chp_healthz') return false;
    if (CTL_IN_HEAD.test(head)) return false;

    let kept = '';
    let host: string | undefined;
    let cookie: string | undefined;
    let xff: string | undefined;
    let xfport: string | undefined;
    let xfproto: string | undefined;
    let hasXfHost = false;
    let closeAfter = false;
    let singles = 0;
    const xForward = options.xForward;
    while (eol >= 0) {
      const from = eol + 2;
      eol = head.indexOf('\r\n', from);
      const line = eol < 0 ? head.slice(from) : head.slice(from, eol);
      const colon = line.indexOf(':');
      if (colon <= 0) return false;
      // a name that matches a case below is a token; only the others need the TOKEN test
      const name = line.slice(0, colon).toLowerCase();
      switch (name) {
        case 'host':
          if (host !== undefined) return false;
          host = line.slice(colon + 1).trim();
          if (!customNames.has('host')) kept += line + '\r\n';
          continue;
        case 'content-length':
          if (line.slice(colon + 1).trim() !== '0') return false;
          kept += line + '\r\n';
          continue;
        case 'transfer-encoding': case 'upgrade': case 'expect':
          return false;
        case 'connection': {
          const v = line.slice(colon + 1);
          if (/upgrade/i.test(v)) return false;
          if (/close/i.test(v)) closeAfter = true;
          continue;
        }
        case 'keep-alive': case 'proxy-connection': case 'te': case 'trailer': case PROOF_HEADER:
          continue;
        case 'cookie': {
          const v = line.slice(colon + 1).trim();
          cookie = cookie === undefined ? v : `${cookie}; ${v}`;
          continue;
        }
        case 'x-forwarded-for': case 'x-forwarded-port': case 'x-forwarded-proto':
          if (xForward) {
            // node joins repeated lines with ", "; ours is then appended with ","
            const v = line.slice(colon + 1).trim();
            if (name === 'x-forwarded-for') xff = xff === undefined ? v : `${xff}, ${v}`;
            else if (name === 'x-forwarded-port') xfport = xfport === undefined ? v : `${xfport}, ${v}`;
            else xfproto = xfproto === undefined ? v : `${xfproto}, ${v}`;
            continue;
          }
          break;
        case 'x-forwarded-host':
          hasXfHost = true;
          break;
        default: {
          if (!TOKEN.test(name)) return false;
          const bit = SINGLE.get(name);
          if (bit !== undefined) {
            if ((singles & bit) !== 0) return false;
            singles |= bit;
          }
        }
      }
      if (customNames.size > 0 && customNames.has(name)) continue;
      kept += line + '\r\n';
    }
    if (host === undefined) return false;

    const parsed = parseRequestUrl(target, options.hostRouting, host);
    if (parsed === null) return false;
    const route = ctx.table.lookup(parsed.lookupPath);
    if (route === undefined || route.rawPort === 0) return false; // unknown, or not plain http://

    // The same edits as rewriteHeaders (headers.ts), in the same order of precedence: hub
    // cookies stripped, X-Forwarded-* appended, then --custom-header replaces any of them.
    if (cookie !== undefined && !customNames.has('cookie')) {
      const c = route.isHub ? cookie : stripHubCookies(cookie);
      if (c !== undefined) kept += `Cookie: ${c}\r\n`;
    }
    if (xForward) {
      // A client that sends none of these gets the same four lines on every request with the
      // same Host: built once per connection and Host.
      const plain = xff === undefined && xfport === undefined && xfproto === undefined && !hasXfHost;
      if (plain && host === this.xfHost) {
        kept += this.xfLines;
      } else {
        this.remote ??= this.socket.remoteAddress ?? '';
        const m = /:(\d+)$/.exec(host);
        let xf = '';
        if (!customNames.has('x-forwarded-for')) xf += `X-Forwarded-For: ${appendValue(xff, this.remote)}\r\n`;
        if (!customNames.has('x-forwarded-port')) xf += `X-Forwarded-Port: ${appendValue(xfport, m ? m[1]! : '80')}\r\n`;
        if (!customNames.has('x-forwarded-proto')) xf += `X-Forwarded-Proto: ${appendValue(xfproto, 'http')}\r\n`;
        if (!hasXfHost && !customNames.has('x-forwarded-host')) xf += `X-Forwarded-Host: ${host}\r\n`;
        if (plain) {
          this.xfHost = host;
          this.xfLines = xf;
        }
        kept += xf;
      }
    }
    kept += this.s.customLines;
    const proof = ctx.rewrite.proxyProof;
    if (route.isHub && proof) kept += `${PROOF_HEADER}: ${proof}\r\n`;

    const path = options.includePrefix ? parsed.rawPath : stripPrefix(parsed.rawPath, route, options.hostRouting);
    const outPath = (options.prependPath ? joinPath(route.targetPath, path) : path || '/') + parsed.search;

    ctx.metrics.leanRequests++;
    this.inFlight = true;
    this.route = route;
    this.url = target;
    this.isHead = method === 'HEAD';
    this.closeAfter = closeAfter;
    this.upHead = `${method} ${outPath} HTTP/1.1\r\n${kept}Connection: keep-alive\r\n\r\n`;
    this.retried = false;
    this.send(this.lastActive); // set when the head's last bytes came (receive or endExchange)
    return true;
  }

  private send(now: number): void {
    this.rbuf = null;
    this.headSent = false;
    this.reusable = true;
    this.upActive = now;
    const route = this.route!;
    const up = this.s.pool.acquire(route.origin, route.rawHost, route.rawPort, this);
    this.up = up;
    up.socket.write(this.upHead, 'latin1');
  }

  onUpstreamData(up: UpstreamConn, chunk: Buffer): void {
    this.upActive = Date.now();
    if (this.headSent) {
      this.relay(chunk);
      return;
    }
    let buf = this.rbuf === null ? chunk : Buffer.concat([this.rbuf, chunk]);
    for (;;) {
      const text = buf.toString('latin1', 0, buf.length < HEAD_SCAN ? buf.length : HEAD_SCAN);
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) {
        if (buf.length > maxHeaderSize) return this.upstreamFailed(up, 502);
        // `chunk` is the connection's read buffer, overwritten by its next read: keep a copy
        this.rbuf = Buffer.from(buf);
        return;
      }
      const head = this.responseHead(text.slice(0, end));
      if (head === null) return this.upstreamFailed(up, 502);
      buf = buf.subarray(end + 4);
      if (head === '') continue; // a 1xx: the real answer follows
      this.rbuf = null;
      this.headSent = true;
      const n = this.frame(buf);
      if (this.mode === Mode.Close) {
        this.writeClient(Buffer.concat([Buffer.from(head, 'latin1'), this.chunkOf(buf)]));
      } else {
        const out = Buffer.allocUnsafe(head.length + n);
        out.write(head, 0, 'latin1');
        buf.copy(out, head.length, 0, n);
        if (n < buf.length) this.reusable = false; // bytes beyond the answer: out of step
        this.writeClient(out);
      }
      if (this.done()) this.finish();
      return;
    }
  }

  /** Body bytes after the head went out. */
  private relay(chunk: Buffer): void {
    if (this.mode === Mode.Close) {
      this.writeClient(this.chunkOf(chunk));
      return;
    }
    const n = this.frame(chunk);
    if (n < chunk.length) this.reusable = false;
    if (n > 0) this.writeClient(n === chunk.length ? chunk : chunk.subarray(0, n), true);
    if (this.done()) this.finish();
  }

  /** Close-delimited bodies go to the client chunked, so its connection can carry the next request. */
  private chunkOf(b: Buffer): Buffer {
    if (b.length === 0) return b;
    return Buffer.concat([Buffer.from(`${b.length.toString(16)}\r\n`, 'latin1'), b, Buffer.from('\r\n', 'latin1')]);
  }

  /**
   * `readBuffer`: `b` is (part of) the target connection's read buffer. A write the kernel did
   * not take at once keeps referring to its bytes, so that buffer is then left to the write and
   * the connection reads into a new one (lean-pool.ts).
   */
  private writeClient(b: Buffer, readBuffer = false): void {
    const { socket } = this;
    if (socket.destroyed) return;
    const ok = socket.write(b);
    if (readBuffer && socket.writableLength > 0) this.up?.releaseBuffer();
    if (!ok && this.up !== null) {
      this.up.socket.pause();
      socket.once('drain', this.resumeUpstream);
    }
  }

  /**
   * Rewrites a response head for the client: '' for a 1xx to skip, null for a malformed one.
   * Also sets the body framing for the answer.
   */
  private responseHead(head: string): string | null {
    let eol = head.indexOf('\r\n');
    const line0 = eol < 0 ? head : head.slice(0, eol);
    if (!line0.startsWith('HTTP/1.') || (line0.charCodeAt(7) !== 49 && line0.charCodeAt(7) !== 48) || line0.charCodeAt(8) !== 32) return null;
    const status = Number(line0.slice(9, 12));
    if (!(status >= 100 && status <= 999) || (line0.length > 12 && line0.charCodeAt(12) !== 32) || CTL_IN_HEAD.test(head)) return null;
    if (status === 101) return null; // a switch nobody asked for
    if (status < 200) return '';
    const http10 = line0.charCodeAt(7) === 48;
    const reason = line0.length > 13 ? line0.slice(13) : STATUS_CODES[status] ?? 'unknown';

    let out = `HTTP/1.1 ${status} ${reason}\r\n`;
    let length = -1;
    let chunked = false;
    let hasDate = false;
    let keepAlive = !http10;
    while (eol >= 0) {
      const from = eol + 2;
      eol = head.indexOf('\r\n', from);
      const line = eol < 0 ? head.slice(from) : head.slice(from, eol);
      const colon = line.indexOf(':');
      if (colon <= 0) return null;
      const name = line.slice(0, colon).toLowerCase();
      switch (name) {
        case 'content-length': {
          const v = line.slice(colon + 1).trim();
          if (!/^\d{1,15}$/.test(v) || (length >= 0 && length !== Number(v))) return null;
          length = Number(v);
          break;
        }
        case 'transfer-encoding':
          chunked = /(?:^|,)\s*chunked\s*$/i.test(line.slice(colon + 1));
          if (!chunked) keepAlive = false; // some other coding, close-delimited
          continue;
        case 'connection': {
          const v = line.slice(colon + 1);
          if (/close/i.test(v)) keepAlive = false;
          else if (http10 && /keep-alive/i.test(v)) keepAlive = true;
          continue;
        }
        case 'keep-alive': case 'proxy-connection': case 'te': case 'trailer': case 'upgrade':
          continue;
        case 'date':
          hasDate = true;
          break;
        default:
          // the names above are tokens; any other must be one
          if (!TOKEN.test(name)) return null;
      }
      out += line + '\r\n';
    }
    if (chunked && length >= 0) return null; // ambiguous framing (RFC 9112 6.3): refuse, as undici does
    this.status = status;
    this.reusable = keepAlive;
    if (this.isHead || status === 204 || status === 304) {
      this.mode = Mode.None;
    } else if (chunked) {
      this.mode = Mode.Chunked;
      this.chunkState = Chunk.Size;
      this.remaining = 0;
      out += 'Transfer-Encoding: chunked\r\n';
    } else if (length >= 0) {
      this.mode = Mode.Length;
      this.remaining = length;
      if (length === 0) this.mode = Mode.None;
    } else {
      this.mode = Mode.Close;
      this.reusable = false;
      out += 'Transfer-Encoding: chunked\r\n';
    }
    if (!hasDate) out += `Date: ${httpDate(this.upActive)}\r\n`;
    return out + (this.closeAfter ? 'Connection: close\r\n' : this.s.keepAliveHeader) + '\r\n';
  }

  /** How many of `b`'s bytes belong to the answer (the rest would be the target misbehaving). */
  private frame(b: Buffer): number {
    switch (this.mode) {
      case Mode.None:
        return 0;
      case Mode.Length: {
        const n = b.length < this.remaining ? b.length : this.remaining;
        this.remaining -= n;
        return n;
      }
      case Mode.Close:
        return b.length;
      case Mode.Chunked:
        return this.scanChunked(b);
    }
  }

  private done(): boolean {
    return this.mode === Mode.None || (this.mode === Mode.Length && this.remaining === 0)
      || (this.mode === Mode.Chunked && this.chunkState === Chunk.LastLf && this.remaining === 1);
  }

  /**
   * Follows chunked framing through `b`; returns the bytes up to the end of the message. Chunk
   * data is skipped by length, so large bodies cost one step per chunk, not per byte. `remaining`
   * is the data left in the current chunk (Data), or 1 once the message is complete (LastLf).
   */
  private scanChunked(b: Buffer): number {
    let i = 0;
    const len = b.length;
    let st = this.chunkState;
    while (i < len) {
      if (st === Chunk.Data) {
        const take = len - i < this.remaining ? len - i : this.remaining;
        i += take;
        this.remaining -= take;
        if (this.remaining === 0) st = Chunk.DataCr;
        continue;
      }
      const c = b[i++]!;
      switch (st) {
        case Chunk.Size: {
          const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
          if (d >= 0) {
            this.remaining = this.remaining * 16 + d;
            if (this.remaining > Number.MAX_SAFE_INTEGER / 16) return this.badChunk(i);
          } else if (c === 13) st = Chunk.SizeLf;
          else if (c === 59 /* ; */ || c === 32 || c === 9) st = Chunk.Ext;
          else return this.badChunk(i);
          break;
        }
        case Chunk.Ext:
          if (c === 13) st = Chunk.SizeLf;
          break;
        case Chunk.SizeLf:
          if (c !== 10) return this.badChunk(i);
          st = this.remaining === 0 ? Chunk.Trailer : Chunk.Data;
          break;
        case Chunk.DataCr:
          if (c !== 13) return this.badChunk(i);
          st = Chunk.DataLf;
          break;
        case Chunk.DataLf:
          if (c !== 10) return this.badChunk(i);
          st = Chunk.Size;
          this.remaining = 0;
          break;
        case Chunk.Trailer:
          // at the start of a trailer line: CR means the empty line that ends the message
          if (c === 13) st = Chunk.LastLf;
          else st = Chunk.TrailerLf; // a trailer field: skip to its LF
          break;
        case Chunk.TrailerLf:
          if (c === 10) st = Chunk.Trailer;
          break;
        case Chunk.LastLf:
          if (c !== 10) return this.badChunk(i);
          this.chunkState = st;
          this.remaining = 1;
          return i;
      }
    }
    this.chunkState = st;
    return i;
  }

  /** Broken chunked framing: the answer cannot be completed; cut both connections. */
  private badChunk(i: number): number {
    this.reusable = false;
    this.up?.socket.destroy();
    this.socket.destroy();
    return i - 1;
  }

  /** `now`: the time of the answer's last bytes (usually upActive, just set). */
  private finish(now = this.upActive): void {
    const up = this.up!;
    const route = this.route!;
    // CHP counts only successful responses as activity (see forward.ts)
    if (this.status < 300) route.lastActivity = now;
    this.up = null;
    this.route = null;
    if (up.socket.isPaused()) up.socket.resume();
    if (this.reusable) this.s.pool.release(up, now);
    else {
      up.owner = null;
      up.socket.destroy();
    }
    this.endExchange(now);
  }

  private endExchange(now: number): void {
    if (this.closeAfter) {
      // whatever else the client sent after `Connection: close` is not answered (as node does)
      this.socket.off('data', this.onData);
      this.buf = null;
      this.socket.end();
      return;
    }
    this.inFlight = false;
    this.lastActive = now;
    if (this.socket.isPaused()) this.socket.resume();
    if (this.buf !== null) this.next();
  }

  onUpstreamClose(up: UpstreamConn): void {
    if (this.up !== up) return;
    if (this.headSent) {
      if (this.mode === Mode.Close) {
        this.reusable = false;
        if (!this.socket.destroyed) this.socket.write('0\r\n\r\n');
        this.finish(Date.now());
      } else {
        this.up = null;
        this.socket.destroy(); // the answer was cut: so is the client's copy
      }
      return;
    }
    const code = up.error?.code ?? '';
    // A reused connection the target closed just as we sent on it, with nothing answered: the
    // request (GET/HEAD) is safe to send once more on a fresh connection.
    if (!this.retried && up.served > 0 && up.received === 0 && (code === '' || code === 'ECONNRESET' || code === 'EPIPE')) {
      this.retried = true;
      this.send(Date.now());
      return;
    }
    this.upstreamFailed(up, DOWN_CODES.has(code) ? 503 : 502);
  }

  /** The target failed before its answer's head reached the client: an error page. */
  private upstreamFailed(up: UpstreamConn, code: number): void {
    const { ctx } = this.s;
    this.up = null;
    up.owner = null;
    up.socket.destroy();
    ctx.metrics.error(code);
    ctx.log.warn({ code, method: this.isHead ? 'HEAD' : 'GET', url: this.url, target: this.route?.data.target, err: up.error?.message ?? (code === 504 ? 'timeout' : 'bad response') }, 'proxy error');
    this.route = null;
    const isHead = this.isHead;
    ctx.errors.render(code, this.url).then((page) => {
      if (this.socket.destroyed) return;
      let head = `HTTP/1.1 ${code} ${STATUS_CODES[code]}\r\nContent-Type: ${page.contentType}\r\n`;
      if (page.contentEncoding) head += `Content-Encoding: ${page.contentEncoding}\r\n`;
      head += `Content-Length: ${page.body.length}\r\nDate: ${httpDate(Date.now())}\r\n${this.closeAfter ? 'Connection: close\r\n' : this.s.keepAliveHeader}\r\n`;
      this.socket.write(isHead ? Buffer.from(head, 'latin1') : Buffer.concat([Buffer.from(head, 'latin1'), page.body]));
      this.endExchange(Date.now());
    }, () => this.socket.destroy());
  }

  /** Called by the shared interval. */
  checkTimers(now: number): void {
    const { options } = this.s.ctx;
    if (this.inFlight) {
      if (this.up !== null && options.proxyTimeoutMs > 0 && now - this.upActive > options.proxyTimeoutMs) {
        if (this.headSent) {
          this.up.socket.destroy();
          this.socket.destroy();
        } else {
          this.upstreamFailed(this.up, 504);
        }
      } else if (options.timeoutMs > 0 && now - this.lastActive > options.timeoutMs && now - this.upActive > options.timeoutMs) {
        this.socket.destroy();
      }
      return;
    }
    if (this.headSince > 0) {
      if (now - this.headSince > HEAD_TIMEOUT_MS) this.socket.destroy();
    } else if (options.keepAliveTimeoutMs > 0 && now - this.lastActive > options.keepAliveTimeoutMs) {
      this.socket.destroy();
    }
  }

  private closed(): void {
    this.s.conns.delete(this);
    const up = this.up;
    if (up !== null) {
      this.up = null;
      up.owner = null;
      up.socket.destroy();
    }
  }
}
