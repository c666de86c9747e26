/**
 * Item 11: a body over hub.maxBodyBytes gets the hub's own 413 through atrium-proxy. The hub
 * answers before reading the body and closes; the proxy used to lose that answer (502).
 * Real hub (in-process, harness) and the real atrium-proxy child it starts.
 */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub, type TestHub } from '../hub/harness.js';

const LIMIT = 4096;

/** node:http writes the whole body before it reads the answer: the other client behaviour. */
function nodePost(url: string, headers: Record<string, string>, body: Buffer): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { ...headers, 'content-length': String(body.length) }, agent: false }, (res) => {
      let text = '';
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('hub 413 through atrium-proxy', () => {
  let hub: TestHub;
  let token: string;
  beforeAll(async () => {
    hub = await startTestHub({ hub: { maxBodyBytes: LIMIT } });
    token = hub.token('x');
  });
  afterAll(async () => {
    await hub?.teardown();
  });

  it('a body within the limit still reaches the hub', async () => {
    const res = await hub.api('POST', '/users/x/tokens', { token, body: { note: 'small' } });
    expect(res.status).toBe(201);
  });

  // Whether the old proxy lost the answer depended on timing, so each size is tried a few times.
  it.each([10_000, 200_000, 5_000_000, 20_000_000])('a %d-byte body gets the hub\'s 413 JSON (fetch and node:http)', async (size) => {
    const body = Buffer.alloc(size, 0x20);
    for (let round = 0; round < 3; round++) {
      const viaFetch = await fetch(`${hub.url}/hub/api/users/x/tokens`, {
        method: 'POST', headers: { authorization: `token ${token}`, 'content-type': 'application/json' }, body,
      });
      expect(viaFetch.status).toBe(413);
      expect(await viaFetch.json()).toMatchObject({ status: 413, message: expect.stringMatching(/too large/i) });
      const viaNode = await nodePost(`${hub.url}/hub/api/users/x/tokens`, { authorization: `token ${token}`, 'content-type': 'application/json' }, body);
      expect(viaNode.status).toBe(413);
      expect(JSON.parse(viaNode.text)).toMatchObject({ status: 413 });
    }
  });
});
