/**
 * The spawn options form: the hub renders the spawner's admin-defined choices and accepts only
 * those; a forged value is refused with a clear message and nothing is started. (Swarm's form
 * needs no Docker until a spawn actually happens.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, startTestHub, type TestHub } from './harness.js';

describe('spawn options form', () => {
  let th: TestHub;
  beforeAll(async () => {
    th = await startTestHub({
      spawner: {
        kind: 'swarm',
        swarm: {
          hubId: 'formtest',
          images: [
            { image: 'quay.io/jupyter/base-notebook:2024-10-07', name: 'Python', description: 'Plain Python' },
            { image: 'quay.io/jupyter/r-notebook:2024-10-07', name: 'R', description: 'R and tidyverse' },
          ],
          memoryChoices: ['2G', '8G'],
          maxMemoryLimit: '4G',
        },
      },
    });
  });
  afterAll(async () => {
    await th?.teardown();
  });

  it('renders the admin-defined choices, escaped, with an XSRF field', async () => {
    const b = new Browser(th.url);
    const { res } = await b.login('alice');
    const html = await res.text();
    expect(res.status).toBe(200);
    expect(html).toContain('Server options');
    expect(html).toContain('R and tidyverse');
    expect(html).toContain('value="quay.io/jupyter/r-notebook:2024-10-07"');
    expect(html).toContain('name="_xsrf"');
    // The 8G choice is above the admin's limit and is not offered.
    expect(html).toContain('>2G<');
    expect(html).not.toContain('>8G<');
  });

  it('refuses an image that is not on the list, starting nothing', async () => {
    const b = new Browser(th.url);
    const { res } = await b.login('bob');
    const xsrf = /name="_xsrf" value="([^"]+)"/.exec(await res.text())![1]!;
    const post = await b.request('POST', '/hub/spawn/bob', {
      body: new URLSearchParams({ _xsrf: xsrf, image: 'evil/miner:latest' }).toString(),
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    });
    expect(post.status).toBe(400);
    expect(await post.text()).toMatch(/image/i);
    expect(th.running.hub.spawns.get('bob', '')).toBeUndefined();
    // The API applies the same rule to its JSON body.
    const api = await th.api('POST', '/users/bob/server', { token: th.token('admin'), body: { image: 'evil/miner:latest' } });
    expect(api.status).toBe(400);
    expect(((await api.json()) as { message: string }).message).toMatch(/image/i);
    expect(th.running.hub.spawns.get('bob', '')).toBeUndefined();
  });

  it('refuses memory above the admin limit with the field and the limit named (form re-shown, API 400), starting nothing', async () => {
    const b = new Browser(th.url);
    const { res } = await b.login('carol');
    const xsrf = /name="_xsrf" value="([^"]+)"/.exec(await res.text())![1]!;
    const post = await b.request('POST', '/hub/spawn/carol', {
      body: new URLSearchParams({ _xsrf: xsrf, image: 'quay.io/jupyter/r-notebook:2024-10-07', memory: '8G' }).toString(),
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    });
    expect(post.status).toBe(400);
    const html = await post.text();
    // The form again, with the reason beside the field and the user's other choice kept.
    expect(html).toContain('Server options');
    expect(html).toContain('memory: at most 4G (you asked for 8G)');
    expect(html).toMatch(/value="quay.io\/jupyter\/r-notebook:2024-10-07"[^>]*selected/);
    expect(th.running.hub.spawns.get('carol', '')).toBeUndefined();
    const api = await th.api('POST', '/users/carol/server', { token: th.token('admin'), body: { memory: '5G' } });
    expect(api.status).toBe(400);
    const body = (await api.json()) as { message: string };
    expect(body.message).toBe('memory: at most 4G (you asked for 5G)');
    expect(th.running.hub.spawns.get('carol', '')).toBeUndefined();
  });
});
