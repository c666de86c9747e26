/**
 * Property: whatever route spec the hub registers for mallory (/user/mallory/<anything>), no
 * client request under /user/bob/ (bob has a route) or /user/alice/ (alice has none: the hub's
 * "/" answers) is ever forwarded to mallory's target. Names are hostile on purpose: dot segments
 * raw and encoded, encoded slashes and backslashes, look-alike unicode dots, empty, trailing dots.
 * Paths are sent byte for byte; three real upstreams say who they are.
 *
 * atrium-proxy only: CHP 5.3 fails it (a server named ".." becomes "/user", and CHP resolves
 * "/user/bob/../mallory/" to mallory), see chp-api.test.ts and chp-proxying.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, rawRequest, startBackend, startProxy, type Backend, type ProxyHandle } from './helpers.js';

beforeAll(ensureBuilt);

const FIXED = [
  '..', '%2e%2e', '%2E%2E', '.', '%2e', '../bob', '..%2Fbob', '%2F..', '%2F..%2F..', 'a/../..', '../../user/bob',
  '..%2F..%2Fuser%2Fbob', '%2e%2e%2f%2e%2e%2fuser%2fbob', '%EF%BC%8E%EF%BC%8E', '%E2%80%A5', '%E2%80%A4%E2%80%A4',
  '', '/', '//', 'x.', 'x..', '...', '%5C..%5C..%5Cuser%5Cbob', '..%5Cbob', '.%2e', '%2e.', '..;', '..%00', '?x=..', '%3F..',
];
const TOKENS = ['..', '.', '%2e%2e', '%2E', '%2e', '/', '%2F', '%2f', '%5C', '\\', 'bob', 'user', 'alice', 'a',
  '%EF%BC%8E', '%E2%80%A5', '', ';', '%00', '%20', '~', '%25', '?', '#'];

/** Deterministic, so a failure names a reproducible case. */
function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function names(count: number): string[] {
  const rnd = mulberry32(20261130);
  const out = [...FIXED];
  while (out.length < count) {
    const n = 1 + Math.floor(rnd() * 4);
    let name = '';
    for (let i = 0; i < n; i++) name += TOKENS[Math.floor(rnd() * TOKENS.length)];
    out.push(name);
  }
  return out;
}

/** Requests for bob's and alice's URLs, built around the name mallory's server got. */
function victimPaths(name: string): string[] {
  return [
    '/user/bob/', '/user/bob/api/status', `/user/bob/${name}`, `/user/bob/${name}/`,
    `/user/bob/../mallory/${name}`, `/user/bob/%2e%2e/mallory/${name}/`, `/user/bob/..%2Fmallory%2F${name}`,
    `/user/bob/x/../../mallory/${name}/api`, `/user/bob/./../mallory/${name}`,
    '/user/alice/', `/user/alice/${name}`, `/user/alice/../mallory/${name}`, `/user/alice/%2E%2E/mallory/${name}/`,
  ];
}

describe('route isolation over hostile server names: atrium', () => {
  let proxy: ProxyHandle;
  let mallory: Backend;
  let bob: Backend;
  let hub: Backend;
  const auth = (): Record<string, string> => ({ authorization: `token ${proxy.token}` });

  beforeAll(async () => {
    [mallory, bob, hub] = await Promise.all([startBackend('mallory'), startBackend('bob'), startBackend('hub')]);
    proxy = await startProxy('atrium');
  });
  afterAll(async () => {
    await proxy?.stop();
    await Promise.all([mallory, bob, hub].map((b) => b?.close()));
  });

  it('no request for /user/bob/... or /user/alice/... reaches mallory, whatever mallory registered', async () => {
    const all = names(250);
    let checked = 0;
    for (const name of all) {
      // bob's and the hub's routes are put back each round, so one bad spec cannot hide the next
      await proxy.addRoute('/', { target: hub.url });
      await proxy.addRoute('/user/bob', { target: bob.url });
      const spec = `/api/routes/user/mallory/${name}`;
      const posted = await rawRequest(proxy.apiPort, 'POST', spec, { body: { target: mallory.url }, headers: auth() });
      // 400 is fine (bad encoding such as "%" alone): then nothing was registered
      expect([201, 400], `POST ${spec}`).toContain(posted.status);
      if (posted.status === 201) {
        // and the spec the proxy reports still lies under /user/mallory
        const keys = Object.entries((await rawRequest(proxy.apiPort, 'GET', '/api/routes', { headers: auth() })).body as Record<string, { target: string }>)
          .filter(([, v]) => v.target === mallory.url).map(([k]) => k);
        for (const k of keys) expect(k === '/user/mallory' || k.startsWith('/user/mallory/'), `key ${k} for ${name}`).toBe(true);
      }
      for (const path of victimPaths(name)) {
        const r = await rawRequest(proxy.port, 'GET', path);
        if (r.status === 200) expect(r.body.backend, `${path} after mallory registered ${JSON.stringify(name)}`).not.toBe('mallory');
        else expect(r.status, path).toBe(400); // malformed percent-encoding in the request itself
        if (r.status === 200 && path.startsWith('/user/bob/')) expect(r.body.backend, path).toBe('bob');
        checked++;
      }
      if (posted.status === 201) {
        expect((await rawRequest(proxy.apiPort, 'DELETE', spec, { headers: auth() })).status, `DELETE ${spec}`).toBe(204);
      }
    }
    expect(checked).toBe(all.length * victimPaths('').length);
  }, 120_000);
});
