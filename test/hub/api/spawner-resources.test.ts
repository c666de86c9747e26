/**
 * GET /hub/api/spawner/resources for a kind without a resource table (the local spawner): a JSON
 * 404 that says so, 403 without credentials, and the spawn page stays the form alone. The Slurm
 * table itself is tested against a real Slurm in test/spawners/slurm-hub.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub, type TestHub } from '../harness.js';

let th: TestHub;
beforeAll(async () => {
  th = await startTestHub();
});
afterAll(async () => {
  await th?.teardown();
});

describe('spawner resources endpoint', () => {
  it('403 without credentials, 404 with a message for a kind without a table', async () => {
    const anon = await th.api('GET', '/spawner/resources');
    expect(anon.status).toBe(403);
    expect(anon.headers.get('content-type')).toMatch(/json/);
    const res = await th.api('GET', '/spawner/resources', { token: th.token('alice') });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ status: 404, message: 'This spawner has no resource table' });
  });

  it('a token without a server scope is refused', async () => {
    const res = await th.api('GET', '/spawner/resources', { token: th.token('bob', ['read:users:name!user']) });
    expect(res.status).toBe(403);
  });
});
