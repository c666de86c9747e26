/**
 * A websocket client for the web shell, as a browser would open it: the hub cookies of a logged-in
 * harness Browser, an Origin header, the page's XSRF token. Refusals come back as the HTTP status
 * and JSON body of the upgrade answer.
 */
import WebSocket from 'ws';
import type { Browser } from '../harness.js';

export interface ShellConn {
  ws: WebSocket;
  /** Everything the shell printed so far (raw bytes). */
  output(): Buffer;
  text(): string;
  notices: Record<string, unknown>[];
  closed: Promise<{ code: number; reason: string }>;
  input(s: string): void;
  waitFor(re: RegExp, timeoutMs?: number): Promise<string>;
}

export type Opened = { ok: true; conn: ShellConn } | { ok: false; status: number; body: { status?: number; message?: string } };

/** The XSRF token and socket path from the shell page (the page must answer 200). */
export async function shellPage(b: Browser, path: string): Promise<{ xsrf: string; socket: string }> {
  const { res } = await b.follow(path);
  const html = await res.text();
  if (res.status !== 200) throw new Error(`shell page ${path}: ${res.status} ${html.slice(0, 300)}`);
  const cfg = JSON.parse(/<script type="application\/json" id="shell-config">(.*?)<\/script>/s.exec(html)![1]!) as { xsrf: string; socket: string };
  return cfg;
}

export function openShell(b: Browser, socketPath: string, o: { xsrf?: string; origin?: string | null; cols?: number; rows?: number; cookies?: boolean } = {}): Promise<Opened> {
  const u = new URL(socketPath, b.base);
  u.protocol = 'ws:';
  if (o.xsrf !== undefined) u.searchParams.set('_xsrf', o.xsrf);
  if (o.cols) u.searchParams.set('cols', String(o.cols));
  if (o.rows) u.searchParams.set('rows', String(o.rows));
  const headers: Record<string, string> = {};
  const cookie = b.cookieHeader(u.pathname);
  if (cookie && o.cookies !== false) headers.Cookie = cookie;
  const origin = o.origin === undefined ? new URL(b.base).origin : o.origin;
  if (origin !== null) headers.Origin = origin;
  const ws = new WebSocket(u, { headers });
  return new Promise((resolve, reject) => {
    ws.once('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        let body = {};
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          /* not JSON */
        }
        resolve({ ok: false, status: res.statusCode ?? 0, body });
      });
    });
    ws.once('error', reject);
    ws.once('open', () => {
      const chunks: Buffer[] = [];
      const notices: Record<string, unknown>[] = [];
      ws.on('message', (data, isBinary) => {
        if (isBinary) chunks.push(data as Buffer);
        else notices.push(JSON.parse(data.toString()) as Record<string, unknown>);
      });
      const closed = new Promise<{ code: number; reason: string }>((r) => ws.once('close', (code, reason) => r({ code, reason: reason.toString() })));
      const output = () => Buffer.concat(chunks);
      const text = () => output().toString('utf8');
      resolve({
        ok: true,
        conn: {
          ws,
          output,
          text,
          notices,
          closed,
          input: (s) => ws.send(JSON.stringify({ type: 'input', data: s })),
          async waitFor(re, timeoutMs = 15_000) {
            const deadline = Date.now() + timeoutMs;
            while (Date.now() < deadline) {
              const m = re.exec(text());
              if (m) return m[0];
              if (ws.readyState === ws.CLOSED) break;
              await new Promise((r) => setTimeout(r, 50));
            }
            throw new Error(`shell output never matched ${re}; got ${JSON.stringify(text().slice(-500))}`);
          },
        },
      });
    });
  });
}
