/** Talks Docker's volume plugin protocol to a driver socket, the way dockerd does. */
import { request } from 'node:http';

export async function pluginCall(socketPath: string, method: string, body: Record<string, unknown> = {}): Promise<{ status: number; json: Record<string, any> }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath, path: `/${method}`, method: 'POST', headers: { 'Content-Type': 'application/vnd.docker.plugins.v1.2+json', Host: 'plugin' } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString() || '{}') }));
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}
