/**
 * The environment catalogue, the teaching-staff role and warm starts, on a real hub (in this
 * process) with a real atrium-proxy and the local spawner's stub servers. An environment outside
 * its window is neither shown nor accepted (API and form); a teaching-staff user manages their
 * own group and is refused for another; a warm start scheduled a few seconds ahead (from the staff
 * page in Chromium) has the group's servers running at that time, and an unused one is stopped.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { Browser, startTestHub, waitFor, type TestHub } from '../harness.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'];
const iso = (msFromNow: number) => new Date(Date.now() + msFromNow).toISOString();

describe('environment catalogue, teaching staff, warm servers', () => {
  let th: TestHub;
  let admin: string;
  let teach: string;

  beforeAll(async () => {
    th = await startTestHub({
      staff: { teachingStaff: [{ users: ['teach'], groups: ['course-x'] }], warmUnusedStopSeconds: 4, warmCheckIntervalSeconds: 0.5 },
    });
    admin = th.token('admin');
    for (const u of ['s1', 's2', 's3', 'teach']) th.token(u);
    teach = th.token('teach');
    expect((await th.api('POST', '/groups/course-x', { token: admin, body: { users: ['s1', 's2'] } })).status).toBe(201);
    expect((await th.api('POST', '/groups/course-y', { token: admin, body: { users: ['s3'] } })).status).toBe(201);
  }, 60_000);

  afterAll(async () => {
    await th?.teardown();
  });

  it('staff create environments for their own group only; other groups are refused or invisible', async () => {
    const mine = await th.api('POST', '/environments', {
      token: teach,
      body: { name: 'py-week', description: 'Week 1', image: 'registry.example:5000/course/python:1', groups: ['course-x'], startsAt: iso(-3600_000), endsAt: iso(3600_000) },
    });
    expect(mine.status).toBe(201);
    const past = await th.api('POST', '/environments', {
      token: teach,
      body: { name: 'py-old', image: 'registry.example:5000/course/python:0', groups: ['course-x'], startsAt: iso(-7200_000), endsAt: iso(-3600_000) },
    });
    expect(past.status).toBe(201);
    const other = await th.api('POST', '/environments', { token: teach, body: { name: 'r-course', image: 'r:4', groups: ['course-y'] } });
    expect(other.status).toBe(403);
    expect(((await other.json()) as { message: string }).message).toMatch(/course-y/);
    // Teaching staff may not reach the node's file system through a bind mount.
    const bind = await th.api('POST', '/environments', {
      token: teach,
      body: { name: 'evil', image: 'x:1', groups: ['course-x'], mounts: [{ type: 'bind', source: '/', target: '/host' }] },
    });
    expect(bind.status).toBe(400);
    // The admin defines one for course-y: the staff member can neither see nor change it.
    expect((await th.api('POST', '/environments', { token: admin, body: { name: 'r-course', image: 'r:4', groups: ['course-y'] } })).status).toBe(201);
    const list = (await (await th.api('GET', '/environments', { token: teach })).json()) as { environments: { name: string }[] };
    expect(list.environments.map((e) => e.name).sort()).toEqual(['py-old', 'py-week']);
    expect((await th.api('GET', '/environments/r-course', { token: teach })).status).toBe(404);
    expect((await th.api('PATCH', '/environments/r-course', { token: teach, body: { groups: ['course-x'] } })).status).toBe(404);
    expect((await th.api('PATCH', '/environments/py-week', { token: teach, body: { groups: ['course-x', 'course-y'] } })).status).toBe(403);
    // A student has no environments scope at all.
    expect((await th.api('GET', '/environments', { token: th.token('s1') })).status).toBe(403);
    // Bad definitions are 400s that name the field.
    const badWin = await th.api('POST', '/environments', { token: admin, body: { name: 'w', image: 'x:1', groups: ['course-x'], startsAt: 'tomorrow' } });
    expect(badWin.status).toBe(400);
    expect(((await badWin.json()) as { message: string }).message).toMatch(/startsAt/);
  });

  it('the Staff page: administrators set placement constraints in the form; teaching staff get no field and a forged one is refused', async () => {
    const post = async (b: Browser, fields: Record<string, string | string[]>) => {
      const page = await (await b.request('GET', '/hub/staff')).text();
      const form = new URLSearchParams({ _xsrf: /name="_xsrf" value="([^"]+)"/.exec(page)?.[1] ?? '' });
      for (const [k, v] of Object.entries(fields)) for (const x of [v].flat()) form.append(k, x);
      return b.request('POST', '/hub/staff/environments', { body: form.toString(), headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
    };
    const a = new Browser(th.url);
    await a.login('admin');
    expect(await (await a.request('GET', '/hub/staff')).text()).toContain('name="constraints"');
    const ok = await post(a, { name: 'gpu-lab', image: 'cuda:12', groups: 'course-y', constraints: 'node.labels.gpu==true\r\n  node.role != manager \r\n' });
    expect(ok.status).toBe(303);
    const env = (await (await th.api('GET', '/environments/gpu-lab', { token: admin })).json()) as { constraints: string[] };
    expect(env.constraints).toEqual(['node.labels.gpu==true', 'node.role != manager']);
    expect(await (await a.request('GET', '/hub/staff')).text()).toContain('only on node.labels.gpu==true, node.role != manager');
    const badSyntax = await post(a, { name: 'gpu-bad', image: 'cuda:12', groups: 'course-y', constraints: 'node.labels.gpu=true' });
    expect(badSyntax.status).toBe(400);
    const badText = await badSyntax.text();
    expect(badText).toContain('constraints:');
    expect(badText).toContain('needs == or !=');

    const t = new Browser(th.url);
    await t.login('teach');
    expect(await (await t.request('GET', '/hub/staff')).text()).not.toContain('name="constraints"');
    const forged = await post(t, { name: 'sneaky', image: 'cuda:12', groups: 'course-x', constraints: 'node.labels.gpu==true' });
    expect(forged.status).toBe(400);
    expect(await forged.text()).toContain('only administrators may set placement constraints');
    expect((await th.api('GET', '/environments/sneaky', { token: admin })).status).toBe(404);
    expect((await th.api('DELETE', '/environments/gpu-lab', { token: admin })).status).toBeLessThan(300);
  });

  it('an environment outside its window is neither offered nor accepted (API and form)', async () => {
    const s1 = th.token('s1');
    const offered = (await (await th.api('GET', '/users/s1/environments', { token: s1 })).json()) as { environments: { name: string }[] };
    expect(offered.environments.map((e) => e.name)).toEqual(['py-week']);
    const s3 = (await (await th.api('GET', '/users/s3/environments', { token: th.token('s3') })).json()) as { environments: { name: string }[] };
    expect(s3.environments.map((e) => e.name)).toEqual(['r-course']);

    for (const env of ['py-old', 'r-course', 'no-such']) {
      const res = await th.api('POST', '/users/s1/server', { token: s1, body: { environment: env } });
      expect(res.status, env).toBe(403);
      expect(((await res.json()) as { message: string }).message).toContain('not available to you now');
    }
    // The form: the spawn page lists only py-week; a forged post of py-old is refused the same way.
    const b = new Browser(th.url);
    await b.login('s1');
    const form = await (await b.request('GET', '/hub/spawn')).text();
    expect(form).toContain('value="py-week"');
    expect(form).not.toContain('py-old');
    expect(form).not.toContain('r-course');
    const xsrf = /name="_xsrf" value="([^"]+)"/.exec(form)?.[1] ?? '';
    const post = await b.request('POST', '/hub/spawn', {
      body: new URLSearchParams({ _xsrf: xsrf, environment: 'py-old' }).toString(),
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    });
    expect(post.status).toBe(403);
    expect(await post.text()).toContain('not available to you now');
    expect(th.running.hub.spawns.get('s1', '')).toBeUndefined();
  });

  it('staff start and stop servers of their group, and are refused for another group', async () => {
    expect([201, 202]).toContain((await th.api('POST', '/users/s2/server', { token: teach })).status);
    await waitFor(() => th.running.hub.spawns.get('s2', '')?.phase === 'running');
    expect((await th.api('POST', '/users/s3/server', { token: teach })).status).toBe(404);
    expect(th.running.hub.spawns.get('s3', '')).toBeUndefined();
    const users = (await (await th.api('GET', '/users', { token: teach })).json()) as { name: string }[];
    expect(users.map((u) => u.name).sort()).toEqual(['s1', 's2']);
    expect([202, 204]).toContain((await th.api('DELETE', '/users/s2/server', { token: teach })).status);
    await waitFor(() => th.running.hub.spawns.get('s2', '') === undefined);
    // Warm starts: not for another group.
    expect((await th.api('POST', '/warm-starts', { token: teach, body: { group: 'course-y', at: iso(1000) } })).status).toBe(403);
    expect((await th.api('POST', '/warm-starts', { token: teach, body: { group: 'course-x', at: 'soon' } })).status).toBe(400);
  });

  it.skipIf(!existsSync(CHROMIUM))('a warm start scheduled on the staff page has the group running at the set time; unused ones stop', async () => {
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, timeout: 60_000 });
    try {
      const page = await browser.newPage();
      page.setDefaultTimeout(30_000);
      await page.goto(`${th.url}/hub/login`);
      await page.fill('#username', 'teach');
      await page.fill('#password', 'x');
      await Promise.all([page.waitForNavigation(), page.click('#login_submit')]);
      await page.goto(`${th.url}/hub/staff`);
      const at = Date.now() + 4000;
      await page.selectOption('#warm-group', 'course-x');
      await page.fill('#warm-at', new Date(at).toISOString());
      await Promise.all([page.waitForNavigation(), page.click('form[action$="staff/warm"] button')]);
      expect(await page.locator('tr[data-warm] .status').first().textContent()).toBe('scheduled');
      // Nothing starts early.
      expect(th.running.hub.spawns.get('s1', '')).toBeUndefined();
      await waitFor(() => ['s1', 's2'].every((u) => th.running.hub.spawns.get(u, '')?.phase === 'running'), 20_000);
      const late = Date.now() - at;
      expect(late).toBeGreaterThanOrEqual(0);
      // eslint-disable-next-line no-console
      console.log(`group running ${late} ms after the set time`);
      expect(th.running.hub.spawns.get('s3', '')).toBeUndefined();
      await page.reload();
      for (const u of ['s1', 's2']) expect(await page.locator(`tr[data-user="${u}"] .status`).textContent()).toBe('running');

      // s1 arrives for class (logs in); s2 never does: after warmUnusedStopSeconds only s2 stops.
      const s1 = new Browser(th.url);
      await s1.login('s1');
      await waitFor(() => th.running.hub.spawns.get('s2', '') === undefined, 20_000);
      expect(th.running.hub.spawns.get('s1', '')?.phase).toBe('running');
      const warm = (await (await th.api('GET', '/warm-starts', { token: teach })).json()) as { warmStarts: { started: { user: string; state: string }[] }[] };
      expect(warm.warmStarts[0]!.started.sort((a, b) => a.user.localeCompare(b.user))).toMatchObject([
        { user: 's1', state: 'used' },
        { user: 's2', state: 'stopped-unused' },
      ]);
    } finally {
      await browser.close();
    }
  }, 90_000);
});
