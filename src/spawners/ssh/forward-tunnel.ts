/**
 * The forward tunnel of one server: a listener on the hub's 127.0.0.1 whose every connection
 * becomes one direct-tcpip channel to the server's loopback port on its host. The local port is
 * the server's URL for the hub and the proxy, so after a hub restart the tunnel is rebuilt on the
 * same port (the proxy route and the database keep that URL).
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import type { HostConnection } from '../../shared/ssh/connection-pool.js';

/** Open tunnels by local port: a restored spawner shares the tunnel of the same server in this process. */
const byLocalPort = new Map<number, ForwardTunnel>();

export class ForwardTunnel {
  private server: Server | null = null;
  private refs = 1;
  private readonly sockets = new Set<Socket>();
  port = 0;

  private constructor(
    private readonly conn: HostConnection,
    private readonly remotePort: number,
    private readonly log: Logger,
  ) {}

  /**
   * The tunnel to `remotePort` on 127.0.0.1:`localPort` (0: a free port chosen by the kernel, so
   * no race). Rejects if the port is held by anything but this server's own tunnel.
   */
  static async open(conn: HostConnection, remotePort: number, localPort: number, log: Logger): Promise<ForwardTunnel> {
    const same = localPort !== 0 ? byLocalPort.get(localPort) : undefined;
    if (same && same.conn === conn && same.remotePort === remotePort) {
      same.refs++;
      return same;
    }
    const t = new ForwardTunnel(conn, remotePort, log);
    await t.listen(localPort);
    byLocalPort.set(t.port, t);
    return t;
  }

  private listen(port: number): Promise<number> {
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
    if (--this.refs > 0) return Promise.resolve();
    if (byLocalPort.get(this.port) === this) byLocalPort.delete(this.port);
    return this.closeNow();
  }

  closeNow(): Promise<void> {
    this.refs = 0;
    const srv = this.server;
    this.server = null;
    for (const s of this.sockets) s.destroy();
    if (!srv) return Promise.resolve();
    return new Promise((r) => srv.close(() => r()));
  }
}

/** Close every forward tunnel of this process (with the connections: the kind's close()). */
export async function closeForwardTunnels(): Promise<void> {
  const all = [...byLocalPort.values()];
  byLocalPort.clear();
  await Promise.all(all.map((t) => t.closeNow()));
}
