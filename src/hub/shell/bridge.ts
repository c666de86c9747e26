/**
 * One open web shell: a websocket on one side, a spawner's ShellSession on the other.
 *
 * Wire protocol (the page's client.ts speaks it): the browser sends text frames with JSON,
 * `{"type":"input","data":"…"}` (keystrokes, UTF-8 text) or `{"type":"resize","cols":N,"rows":N}`;
 * the hub sends the terminal's output as binary frames (raw bytes, decoded by xterm.js) and its own
 * notices as text frames: `{"type":"exit","code":N}`, `{"type":"closed","reason":"…"}`.
 *
 * The audit log gets one line when a shell opens and one when it closes (who, whose server, where,
 * how long, bytes each way); keystrokes and output are never logged.
 */
import type { Logger } from 'pino';
import type { WebSocket, RawData } from 'ws';
import type { ShellSession } from '../../spawners/spawner.js';
import type { ActiveServer } from '../spawn/active.js';

/** Close codes in the application range (4000-4999), with the reason shown in the page. */
export const CLOSE_IDLE = 4000;
export const CLOSE_SERVER_GONE = 4001;
export const CLOSE_HUB = 4002;
export const CLOSE_FAILED = 4003;

const MIN_SIZE = 1;
const MAX_SIZE = 1000;
const KEEPALIVE_MS = 30_000;
const SERVER_CHECK_MS = 2_000;
/** Output waiting for a slow browser beyond this is dropped (a runaway `yes` must not fill the hub's memory). */
const MAX_BUFFERED_BYTES = 8 << 20;

export interface BridgeArgs {
  ws: WebSocket;
  session: ShellSession;
  log: Logger;
  /** For the audit lines. */
  who: { user: string; owner: string; server: string; peer: string; loginHost?: string };
  idleTimeoutSeconds: number;
  /** Still the same running server (or configured login host)? Checked every 2 s: a stopped server's shells end with it. */
  serverStillRunning: () => boolean;
  onClosed: () => void;
}

export function clampSize(v: unknown, fallback: number): number | null {
  if (v === undefined || v === null || v === '') return fallback;
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d{1,4}$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < MIN_SIZE || n > MAX_SIZE) return null;
  return n;
}

export class ShellBridge {
  private bytesIn = 0;
  private bytesOut = 0;
  private readonly opened = Date.now();
  private idleTimer: NodeJS.Timeout | null = null;
  private keepalive: NodeJS.Timeout;
  private closed = false;
  private reason = 'browser closed the connection';

  constructor(private readonly a: BridgeArgs) {
    const { ws, session, log, who } = a;
    log.info({ event: 'shell-open', ...who, target: session.description }, 'web shell opened');
    session.onData((chunk) => {
      this.bytesOut += chunk.length;
      if (ws.readyState !== ws.OPEN) return;
      if (ws.bufferedAmount > MAX_BUFFERED_BYTES) return;
      ws.send(chunk, { binary: true });
    });
    session.onExit((exit) => {
      this.notice({ type: 'exit', code: exit.code, signal: exit.signal });
      this.end(1000, exit.code === null ? `shell ended (${exit.signal ?? 'killed'})` : `shell exited with status ${exit.code}`);
    });
    ws.on('message', (data, isBinary) => this.onMessage(data, isBinary));
    ws.on('close', () => this.end(1000, this.reason));
    ws.on('error', () => this.end(1000, 'connection error'));
    this.touch();
    // The server check is a map lookup, so it runs often; the ping keeps idle proxies from
    // dropping a quiet terminal.
    let ticks = 0;
    this.keepalive = setInterval(() => {
      if (!a.serverStillRunning()) return this.end(CLOSE_SERVER_GONE, 'the server stopped');
      if (++ticks % (KEEPALIVE_MS / SERVER_CHECK_MS) === 0 && ws.readyState === ws.OPEN) ws.ping();
    }, SERVER_CHECK_MS);
    this.keepalive.unref();
  }

  /** End from the hub's side (hub closing, server stopped). */
  close(code: number, reason: string): void {
    this.end(code, reason);
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    if (isBinary) return;
    let msg: { type?: unknown; data?: unknown; cols?: unknown; rows?: unknown };
    try {
      msg = JSON.parse(data.toString());
    } catch {
      return;
    }
    if (msg.type === 'input' && typeof msg.data === 'string') {
      const buf = Buffer.from(msg.data, 'utf8');
      this.bytesIn += buf.length;
      this.touch();
      this.a.session.write(buf);
    } else if (msg.type === 'resize') {
      const cols = clampSize(msg.cols, 0);
      const rows = clampSize(msg.rows, 0);
      if (cols && rows) this.a.session.resize(cols, rows);
    }
  }

  /** Idle means no keystroke: a program printing forever in a forgotten tab still times out. */
  private touch(): void {
    if (this.a.idleTimeoutSeconds <= 0) return;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      this.notice({ type: 'closed', reason: 'idle' });
      this.end(CLOSE_IDLE, `closed after ${this.a.idleTimeoutSeconds} s without input`);
    }, this.a.idleTimeoutSeconds * 1000);
    this.idleTimer.unref();
  }

  private notice(msg: Record<string, unknown>): void {
    if (this.a.ws.readyState === this.a.ws.OPEN) this.a.ws.send(JSON.stringify(msg));
  }

  private end(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.reason = reason;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    clearInterval(this.keepalive);
    this.a.session.close();
    const { ws } = this.a;
    if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close(code, reason.slice(0, 120));
    this.a.log.info(
      { event: 'shell-close', ...this.a.who, reason, seconds: Math.round((Date.now() - this.opened) / 1000), bytesIn: this.bytesIn, bytesOut: this.bytesOut },
      'web shell closed',
    );
    this.a.onClosed();
  }
}

/** Same server object, still running: a stop and a new start make a new ActiveServer. */
export function stillRunning(get: () => ActiveServer | undefined, a: ActiveServer): () => boolean {
  return () => {
    const now = get();
    return now === a && a.phase === 'running';
  };
}
