/**
 * The audit lines of the web shell: one when a shell opens, one when it closes (who, whose server,
 * where, how long, bytes), and never a keystroke or a byte of output. A real login shell on a real
 * pseudo-terminal behind a real websocket, with the bridge's logger captured.
 */
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import WebSocket, { WebSocketServer } from 'ws';
import { ShellBridge } from '../../../src/hub/shell/bridge.js';
import { ptyShell } from '../../../src/spawners/pty-shell.js';

describe('web shell audit lines', () => {
  let server: Server;
  let wss: WebSocketServer;
  let port = 0;
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });

  beforeAll(async () => {
    server = createServer();
    wss = new WebSocketServer({ server });
    wss.on('connection', (ws) => {
      const session = ptyShell({ file: '/bin/sh', args: [], cwd: tmpdir(), env: { PATH: '/usr/bin:/bin', TERM: 'xterm-256color', PS1: '$ ' }, cols: 80, rows: 24, description: 'test pty' });
      new ShellBridge({
        ws,
        session,
        log,
        who: { user: 'alice', owner: 'alice', server: '', peer: '127.0.0.1' },
        idleTimeoutSeconds: 0,
        serverStillRunning: () => true,
        onClosed: () => undefined,
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
  });

  afterAll(async () => {
    wss.close();
    await new Promise((r) => server.close(r));
  });

  it('logs open and close with sizes, and no keystrokes or output', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
    let out = '';
    ws.on('message', (d, bin) => {
      if (bin) out += d.toString();
    });
    await new Promise((r) => ws.once('open', r));
    ws.send(JSON.stringify({ type: 'input', data: 'echo top-secret-$((6*7))\r' }));
    const deadline = Date.now() + 10_000;
    while (!out.includes('top-secret-42') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(out).toContain('top-secret-42');
    ws.send(JSON.stringify({ type: 'input', data: 'exit\r' }));
    await new Promise((r) => ws.once('close', r));
    await new Promise((r) => setTimeout(r, 100));
    const open = lines.find((l) => l.event === 'shell-open');
    const close = lines.find((l) => l.event === 'shell-close');
    expect(open).toMatchObject({ user: 'alice', owner: 'alice', server: '', peer: '127.0.0.1', target: 'test pty' });
    expect(close).toMatchObject({ user: 'alice', reason: 'shell exited with status 0', bytesIn: 'echo top-secret-$((6*7))\r'.length + 'exit\r'.length });
    expect(close!.bytesOut).toBeGreaterThan(10);
    expect(JSON.stringify(lines)).not.toContain('top-secret');
  });
});
