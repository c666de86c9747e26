/**
 * A stand-in hub API on this machine's 127.0.0.1 for spawner tests without a hub: every request
 * gets 200 `{}` (the stub server posts its activity there), and the request lines are kept.
 */
import { createServer, type Server } from 'node:net';

export async function fakeHubApi(): Promise<{ port: number; hits: string[]; close(): void }> {
  const hits: string[] = [];
  const srv: Server = createServer((sock) => {
    sock.once('data', (d) => {
      hits.push(d.toString().split('\r\n')[0]!);
      sock.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}');
    });
    sock.on('error', () => undefined);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return { port: (srv.address() as { port: number }).port, hits, close: () => srv.close() };
}
