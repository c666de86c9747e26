/**
 * The forward tunnel of one server: a listener on the hub's 127.0.0.1 whose every connection
 * becomes one direct-tcpip channel to the server's loopback port on its host. The local port is
 * the server's URL for the hub and the proxy, so after a hub restart the tunnel is rebuilt on the
 * same port (the proxy route and the database keep that URL).
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import type { HostConnection } from './connection-pool.js';

export class ForwardTunnel {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(
    private readonly conn: HostConnection,
    private readonly remotePort: number,
    private readonly log: Logger,
  ) {}

  /** Listen on 127.0.0.1:`port` (0: any free port, chosen by the kernel). */
  listen(port = 0): Promise<number> {
    const srv = createServer((sock) => this.relay(sock));
    this.server = srv;
    return new Promise((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(port, '127.0.0.1', () => {
        srv.off('error', reject);
        const addr = srv.address();
        this.port = typeof addr === 'object' && addr ? addr.port : 0;
        resolve(this.port);
      });
    });
  }

  private relay(sock: Socket): void {
    this.sockets.add(sock);
    sock.on('close', () => this.sockets.delete(sock));
    sock.on('error', () => undefined);
    sock.pause();
    // While the connection is being re-established this waits for it, so a request that arrives
    // during a reconnect is served late rather than refused.
    this.conn.forwardOut(this.remotePort).then(
      (ch) => {
        if (sock.destroyed) return ch.close();
        ch.on('error', () => sock.destroy());
        ch.on('close', () => sock.destroy());
        sock.on('close', () => ch.close());
        sock.pipe(ch).pipe(sock);
        sock.resume();
      },
      (err: Error) => {
        this.log.info({ host: this.conn.host.name, remotePort: this.remotePort, err: err.message }, 'forward tunnel: channel refused');
        sock.destroy();
      },
    );
  }

  close(): Promise<void> {
    const srv = this.server;
    this.server = null;
    for (const s of this.sockets) s.destroy();
    if (!srv) return Promise.resolve();
    return new Promise((r) => srv.close(() => r()));
  }
}
