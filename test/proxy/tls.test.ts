/**
 * --ssl-key/--ssl-cert: the public port speaks HTTPS and X-Forwarded-Proto says https (wss for
 * websockets). Uses a throwaway self-signed certificate.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { ensureBuilt, startBackend, startProxy, type Backend, type ProxyHandle } from './helpers.js';

function httpsGet(url: string): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    request(url, { rejectUnauthorized: false }, (res) => {
      let text = '';
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    }).on('error', reject).end();
  });
}

describe('atrium-proxy over TLS', () => {
  let backend: Backend;
  let proxy: ProxyHandle;
  beforeAll(async () => {
    await ensureBuilt();
    const dir = mkdtempSync(join(tmpdir(), 'proxy-tls-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    backend = await startBackend('tls');
    proxy = await startProxy('atrium', ['--ssl-key', join(dir, 'key.pem'), '--ssl-cert', join(dir, 'cert.pem')]);
    await proxy.addRoute('/user/alice', { target: backend.url });
  });
  afterAll(async () => {
    await proxy?.stop();
    await backend?.close();
  });

  it('proxies HTTPS with X-Forwarded-Proto https', async () => {
    const r = await httpsGet(`https://127.0.0.1:${proxy.port}/user/alice/x`);
    expect(r.status).toBe(200);
    expect(r.body.headers['x-forwarded-proto']).toBe('https');
  });

  it('proxies wss with X-Forwarded-Proto wss', async () => {
    const ws = new WebSocket(`wss://127.0.0.1:${proxy.port}/user/alice/ws`, { rejectUnauthorized: false });
    const reply = await new Promise<string>((resolve, reject) => {
      ws.once('open', () => ws.send('hi'));
      ws.once('message', (m) => resolve(m.toString()));
      ws.once('error', reject);
    });
    ws.close();
    expect(reply).toBe('tls:/user/alice/ws:hi');
    expect(backend.wsHeaders.at(-1)!['x-forwarded-proto']).toBe('wss');
  });
});
