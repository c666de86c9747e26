/**
 * SIGHUP reloads atrium.yaml in the running hub process: a good file's user lists and spawn
 * limits take effect at once and other changes are logged as needing a restart; a bad file is
 * refused with its problems logged, the running config is kept and the hub keeps serving.
 * Real hub process, real atrium-proxy, real local-spawner servers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hubProcess, type HubProcess } from './hub-process.js';
import { waitFor } from './harness.js';

describe('SIGHUP', () => {
  let hp: HubProcess;
  let admin: string;
  let carol: string;
  beforeAll(async () => {
    hp = await hubProcess({ spawner: { activeServerLimit: 0 } });
    await hp.start();
    admin = hp.token('admin');
    carol = hp.token('carol');
  });
  afterAll(async () => {
    await hp?.teardown();
  });

  const status = async (method: string, path: string, token: string) => {
    const r = await hp.api(method, path, { token });
    await r.arrayBuffer();
    return r.status;
  };
  const hup = async (marker: RegExp) => {
    const seen = (hp.output().match(new RegExp(marker.source, 'g')) ?? []).length;
    process.kill(hp.child!.pid!, 'SIGHUP');
    await waitFor(() => (hp.output().match(new RegExp(marker.source, 'g')) ?? []).length > seen, 10_000, 50);
  };

  it('applies new admins and limits from a good file and names what needs a restart', async () => {
    expect(await status('GET', '/users', carol)).toBe(403);
    expect(await status('POST', '/users', admin)).toBe(400);
    hp.writeConfig({
      authenticator: { adminUsers: ['admin', 'carol'], blockedUsers: ['mallory'] },
      spawner: { activeServerLimit: 1 },
      hub: { cookieMaxAgeSeconds: 3600 },
    });
    await hup(/"msg":"config reloaded"/);
    expect(hp.child).not.toBeNull();
    const line = hp.output().split('\n').reverse().find((l) => l.includes('"msg":"config reloaded"'))!;
    const entry = JSON.parse(line) as { applied: string[]; needsRestart: string[] };
    expect(entry.applied.sort()).toEqual(['authenticator.adminUsers', 'authenticator.blockedUsers', 'spawner.activeServerLimit']);
    expect(entry.needsRestart).toEqual(['hub.cookieMaxAgeSeconds']);

    // The new admin is an admin now (the token inherits its owner's scopes).
    expect(await status('GET', '/users', carol)).toBe(200);
    // The new limit: one server runs, the second spawn is refused.
    const created = await hp.api('POST', '/users', { token: admin, body: { usernames: ['u1', 'u2'] } });
    await created.arrayBuffer();
    expect(created.status).toBe(201);
    expect([201, 202]).toContain(await status('POST', '/users/u1/server', admin));
    expect(await status('POST', '/users/u2/server', admin)).toBe(429);
  });

  it('refuses a bad file, logs its problems, keeps the running config and keeps serving', async () => {
    const good = JSON.stringify(hp.config, null, 2);
    hp.writeConfig(good.replace('"activeServerLimit": 1', '"activeServerLimit": -3, "activeServerLimt": 2'));
    await hup(/config reload refused/);
    const line = hp.output().split('\n').reverse().find((l) => l.includes('config reload refused'))!;
    const problems = (JSON.parse(line) as { problems: string[] }).problems.join('\n');
    expect(problems).toMatch(/spawner\.activeServerLimit/);
    expect(problems).toMatch(/activeServerLimt.*did you mean/);
    expect(hp.child).not.toBeNull();
    const health = await fetch(`${hp.url}/hub/api/health`);
    expect(health.status).toBe(200);
    // The old config still rules: carol is admin, the limit is still 1.
    expect(await status('GET', '/users', carol)).toBe(200);
    expect(await status('POST', '/users/u2/server', admin)).toBe(429);

    // A file that is not even YAML is refused the same way.
    hp.writeConfig('hub: [unclosed\n');
    await hup(/config reload refused/);
    expect(hp.child).not.toBeNull();
    expect(await status('GET', '/users', carol)).toBe(200);
  });
});
