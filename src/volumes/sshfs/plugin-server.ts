/**
 * Docker's (legacy, socket-discovered) volume plugin protocol: JSON POSTs over a unix socket at
 * /run/docker/plugins/<name>.sock. Errors are answered with status 500 and {"Err": "..."}: Docker
 * then reports "VolumeDriver.<Method>: <Err>", which the Swarm spawner shows to the user.
 */
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import type { SshfsDriver } from './driver.js';
import { isAtriumError } from '../../shared/errors.js';

const CONTENT_TYPE = 'application/vnd.docker.plugins.v1.2+json';

type Handler = (body: Record<string, unknown>) => Promise<Record<string, unknown>>;

function routes(driver: SshfsDriver): Record<string, Handler> {
  return {
    '/Plugin.Activate': async () => ({ Implements: ['VolumeDriver'] }),
    '/VolumeDriver.Create': async (b) => {
      await driver.create(b.Name, (b.Opts ?? {}) as Record<string, string>);
      return {};
    },
    '/VolumeDriver.Remove': async (b) => {
      await driver.remove(b.Name);
      return {};
    },
    '/VolumeDriver.Mount': async (b) => ({ Mountpoint: await driver.mount(b.Name, b.ID) }),
    '/VolumeDriver.Unmount': async (b) => {
      await driver.unmount(b.Name, b.ID);
      return {};
    },
    '/VolumeDriver.Path': async (b) => ({ Mountpoint: driver.path(b.Name) }),
    '/VolumeDriver.Get': async (b) => ({ Volume: driver.get(b.Name) }),
    '/VolumeDriver.List': async () => ({ Volumes: driver.list() }),
    // "local": volumes are per node; Swarm creates one on whichever node runs the task.
    '/VolumeDriver.Capabilities': async () => ({ Capabilities: { Scope: 'local' } }),
  };
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > 1 << 20) throw new Error('request too large');
    chunks.push(c as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (!text) return {};
  const parsed = JSON.parse(text) as unknown;
  return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
}

export interface PluginServer {
  socketPath: string;
  close(): Promise<void>;
}

export async function listenPlugin(driver: SshfsDriver, socketPath: string, log: Logger): Promise<PluginServer> {
  const table = routes(driver);
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'Content-Type': CONTENT_TYPE });
      res.end(JSON.stringify(body));
    };
    const handler = req.method === 'POST' ? table[req.url ?? ''] : undefined;
    if (!handler) return send(404, { Err: `unknown endpoint ${req.method} ${req.url}` });
    readJson(req)
      .then((body) => handler(body).then((out) => {
        log.debug({ call: req.url, volume: body.Name }, 'plugin call');
        send(200, { Err: '', ...out });
      }))
      .catch((err: unknown) => {
        // Docker's protocol has one error status (500); the code and detail are for our log.
        const message = err instanceof Error ? err.message : String(err);
        if (isAtriumError(err)) log.warn({ call: req.url, code: err.code, err: message, detail: err.detail }, 'plugin call failed');
        else log.error({ call: req.url, err }, 'plugin call failed unexpectedly');
        send(500, { Err: message });
      });
  });
  mkdirSync(dirname(socketPath), { recursive: true, mode: 0o755 });
  rmSync(socketPath, { force: true }); // a stale socket from a killed driver
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
  // Only root (dockerd) may talk to the driver: it mounts things as root.
  chmodSync(socketPath, 0o600);
  return {
    socketPath,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        rmSync(socketPath, { force: true });
      }),
  };
}
