/**
 * The proxy proof on the real atrium-proxy process: with the proof (env ATRIUM_PROXY_PROOF or
 * --proxy-proof-file), requests and websocket upgrades on a route whose data has hub: true carry
 * X-Atrium-Proxy-Proof with the real value; every other route never sees the header, whatever
 * the client or a --custom-header sent. Without the proof the header is still stripped.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ATRIUM_BIN, ensureBuilt, getJson, startBackend, startProxy, wsOpen, type Backend, type ProxyHandle } from './helpers.js';

const PROOF = 'p'.repeat(24) + '-the-real-proof-0123456789';
const FORGED = 'f'.repeat(64);
const dir = mkdtempSync(join(tmpdir(), 'atrium-proof-'));
let backend: Backend;
const proxies: ProxyHandle[] = [];

async function withEnvProof(): Promise<ProxyHandle> {
  // spawn copies the environment at once, so the variable is only visible to this one child
  process.env.ATRIUM_PROXY_PROOF = PROOF;
  try {
    return await startProxy('atrium');
  } finally {
    delete process.env.ATRIUM_PROXY_PROOF;
  }
}

async function routed(p: ProxyHandle): Promise<ProxyHandle> {
  proxies.push(p);
  await p.addRoute('/', { target: backend.url, hub: true });
  await p.addRoute('/user/alice', { target: backend.url, user: 'alice' });
  return p;
}

beforeAll(async () => {
  await ensureBuilt();
  backend = await startBackend();
});
afterAll(async () => {
  for (const p of proxies) await p.stop();
  await backend?.close();
  rmSync(dir, { recursive: true, force: true });
});

const seenProof = async (url: string, headers: Record<string, string> = {}) => {
  const r = await getJson(url, { headers });
  expect(r.status).toBe(200);
  return (r.body as { headers: Record<string, string | undefined> }).headers['x-atrium-proxy-proof'];
};

async function wsProof(url: string, headers: Record<string, string> = {}): Promise<string | string[] | undefined> {
  const before = backend.wsHeaders.length;
  const ws = await wsOpen(url, headers);
  ws.close();
  expect(backend.wsHeaders.length).toBe(before + 1);
  return backend.wsHeaders[before]!['x-atrium-proxy-proof'];
}

describe.each([
  ['env ATRIUM_PROXY_PROOF', withEnvProof],
  ['--proxy-proof-file (and a --custom-header of the same name)', async () => {
    const file = join(dir, 'proof');
    writeFileSync(file, `${PROOF}\n`, { mode: 0o600 });
    return startProxy('atrium', ['--proxy-proof-file', file, '--custom-header', 'X-Atrium-Proxy-Proof: from-custom-header']);
  }],
])('with the proof from %s', (_name, start) => {
  let p: ProxyHandle;
  beforeAll(async () => {
    p = await routed(await start());
  });

  it('the hub route gets the real proof, replacing a forged one (HTTP and websocket)', async () => {
    expect(await seenProof(`${p.url}/hub/login`)).toBe(PROOF);
    expect(await seenProof(`${p.url}/hub/login`, { 'X-Atrium-Proxy-Proof': FORGED })).toBe(PROOF);
    expect(await wsProof(`ws://127.0.0.1:${p.port}/hub/socket`, { 'X-Atrium-Proxy-Proof': FORGED })).toBe(PROOF);
  });

  it('a user route never sees the header: not the real proof, not a forged one (HTTP and websocket)', async () => {
    expect(await seenProof(`${p.url}/user/alice/api`)).toBeUndefined();
    expect(await seenProof(`${p.url}/user/alice/api`, { 'X-Atrium-Proxy-Proof': FORGED })).toBeUndefined();
    expect(await seenProof(`${p.url}/user/alice/api`, { 'X-Atrium-Proxy-Proof': PROOF })).toBeUndefined();
    expect(await wsProof(`ws://127.0.0.1:${p.port}/user/alice/socket`, { 'X-Atrium-Proxy-Proof': FORGED })).toBeUndefined();
  });

  it('the proof is not on the command line', () => {
    const argv = execFileSync('ps', ['-o', 'args=', '-p', String(p.proc.pid)]).toString();
    expect(argv).toContain('atrium-proxy');
    expect(argv).not.toContain(PROOF);
  });
});

describe('without a proof (as JupyterHub runs it)', () => {
  it('nobody gets a proof, and a forged one is still stripped on every route', async () => {
    const p = await routed(await startProxy('atrium'));
    expect(await seenProof(`${p.url}/hub/login`, { 'X-Atrium-Proxy-Proof': FORGED })).toBeUndefined();
    expect(await seenProof(`${p.url}/user/alice/x`, { 'X-Atrium-Proxy-Proof': FORGED })).toBeUndefined();
    expect(await wsProof(`ws://127.0.0.1:${p.port}/hub/socket`, { 'X-Atrium-Proxy-Proof': FORGED })).toBeUndefined();
  });
});

describe('flag handling', () => {
  it('--help lists --proxy-proof-file', () => {
    expect(execFileSync(process.execPath, [ATRIUM_BIN, '--help']).toString()).toContain('--proxy-proof-file FILE');
  });

  it('a missing or empty proof file is a start-up error (exit 2), not a proxy without proof', () => {
    const empty = join(dir, 'empty');
    writeFileSync(empty, '\n', { mode: 0o600 });
    for (const [file, message] of [[join(dir, 'nope'), 'cannot read'], [empty, 'holds no proof']] as const) {
      let status = 0;
      let stderr = '';
      try {
        execFileSync(process.execPath, [ATRIUM_BIN, '--port', '0', '--proxy-proof-file', file], { stdio: 'pipe' });
      } catch (err) {
        status = (err as { status: number }).status;
        stderr = String((err as { stderr: Buffer }).stderr);
      }
      expect(status).toBe(2);
      expect(stderr).toContain(message);
    }
  });
});
