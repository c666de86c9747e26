/**
 * Login says why (issue 10, item 5) and the small page fixes (item 12), over HTTP against a real
 * hub and atrium-proxy: refused names are explained and kept in the form, names are lowercased,
 * malformed bodies are 400s; the favicon, the 404 page's navigation, token expiry in words.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Browser, startTestHub, type TestHub } from './harness.js';
import { DEFAULT_USERNAME_PATTERN, explainBadUsername } from '../../src/hub/auth/name-explain.js';
import { AtriumConfigSchema } from '../../src/hub/config/schema.js';
import { inWords } from '../../src/hub/pages/time-words.js';

let th: TestHub;
beforeAll(async () => {
  th = await startTestHub({ authenticator: { dummy: { password: 'sesame' } } });
});
afterAll(async () => {
  await th?.teardown();
});

/** POST the login form with a fresh session; returns status and page. */
async function post(body: string): Promise<{ status: number; html: string }> {
  const b = new Browser(th.url);
  const page = await b.request('GET', '/hub/login');
  const xsrf = /name="_xsrf" value="([^"]+)"/.exec(await page.text())![1]!;
  const res = await b.request('POST', '/hub/login', { body: `_xsrf=${encodeURIComponent(xsrf)}&${body}`, headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
  return { status: res.status, html: await res.text() };
}
const form = (username: string, password = 'sesame') => new URLSearchParams({ username, password }).toString();
const users = () => th.running.hub.stores.users.list({}).map((u) => u.name);
const valueOf = (html: string) => /id="username"[^>]*value="([^"]*)"/.exec(html)?.[1];

describe('login names', () => {
  it('"Bob Smith": 400, says it contains a space and what is allowed, keeps the typed name, creates nobody', async () => {
    const { status, html } = await post(form('Bob Smith'));
    expect(status).toBe(400);
    expect(html).toContain('cannot be used as a user name: it contains a space.');
    expect(html).toContain('letters a-z, digits and the signs . _ @ -');
    expect(valueOf(html)).toBe('Bob Smith');
    expect(html).not.toContain('sesame'); // the password is never echoed
    expect(users()).not.toContain('bob smith');
  });

  it('"josé" and a Cyrillic look-alike name the offending letter; a 64-character name names the limit', async () => {
    let r = await post(form('josé'));
    expect(r.status).toBe(400);
    expect(r.html).toContain('contains “é”, which is not one of the letters a-z');
    expect(valueOf(r.html)).toBe('josé');
    r = await post(form('\u0430lice'));
    expect(r.html).toContain('contains “\u0430”');
    r = await post(form('a'.repeat(64)));
    expect(r.html).toContain('it is 64 characters long (at most 63)');
    r = await post(form('x'.repeat(300)));
    expect(r.status).toBe(400);
    expect(r.html).toContain('longer than 255 characters');
  });

  it('capitals are lowercased as JupyterHub does: "BoB" signs in as bob', async () => {
    const { status } = await post(form('BoB'));
    expect(status).toBe(302);
    expect(users()).toContain('bob');
    expect(users()).not.toContain('BoB');
  });

  it('a wrong password keeps the typed name, not the password', async () => {
    const { status, html } = await post(form('carol', 'wrong-secret'));
    expect(status).toBe(403);
    expect(html).toContain('Invalid username or password');
    expect(valueOf(html)).toBe('carol');
    expect(html).not.toContain('wrong-secret');
  });

  it('a user name sent twice (an array) is a 400 with a message, never a 500', async () => {
    const { status, html } = await post('username=a&username=b&password=sesame');
    expect(status).toBe(400);
    expect(html).toContain('The user name must be sent once, as text.');
  });

  it('the form says which names are allowed (dummy authenticator)', async () => {
    const html = await (await fetch(`${th.url}/hub/login`)).text();
    expect(html).toContain('id="username-rule"');
    expect(html).toContain('id="http-warning"');
  });

  it('the explanation is tied to the schema default pattern', () => {
    const schemaDefault = (AtriumConfigSchema as unknown as { properties: { authenticator: { properties: { usernamePattern: { default: string } } } } }).properties.authenticator.properties.usernamePattern.default;
    expect(schemaDefault).toBe(DEFAULT_USERNAME_PATTERN);
    expect(explainBadUsername('^[a-z]+$', 'X1', 'x1', null)).toContain('must match this site\'s pattern ^[a-z]+$');
    expect(explainBadUsername(DEFAULT_USERNAME_PATTERN, '-x', '-x', null)).toContain('start with a letter or a digit');
  });
});

describe('small page fixes', () => {
  it('favicon: linked from every page, served as SVG at /hub/favicon.ico and /favicon.ico', async () => {
    const html = await (await fetch(`${th.url}/hub/login`)).text();
    expect(html).toContain('<link rel="icon" type="image/svg+xml" href="/hub/favicon.ico">');
    for (const p of ['/hub/favicon.ico', '/favicon.ico', '/hub/favicon.svg']) {
      const res = await fetch(`${th.url}${p}`);
      expect(res.status, p).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^image\/svg\+xml/);
      expect(await res.text()).toMatch(/^<svg /);
    }
  });

  it('the 404 page keeps the signed-in navigation (and has none when signed out)', async () => {
    const b = new Browser(th.url);
    await b.login('dave', 'sesame');
    const res = await b.request('GET', '/hub/no-such-page');
    expect(res.status).toBe(404);
    const html = await res.text();
    expect(html).toContain('href="/hub/logout"');
    expect(html).toContain('<span>dave</span>');
    const anon = await (await fetch(`${th.url}/hub/no-such-page`)).text();
    expect(anon).not.toContain('href="/hub/logout"');
  });

  it('token expiry in words: a one-week token says "in 7 days"', async () => {
    const b = new Browser(th.url);
    await b.login('erin', 'sesame');
    const page = await (await b.request('GET', '/hub/token')).text();
    const xsrf = /name="_xsrf" value="([^"]+)"/.exec(page)![1]!;
    const res = await b.request('POST', '/hub/token', { body: `_xsrf=${xsrf}&note=week&expires_in=604800`, headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
    const html = await res.text();
    expect(html).toContain('>in 7 days</time>');
    expect(html).not.toMatch(/in \d+ min/);
  });

  it('inWords', () => {
    expect(inWords(30)).toBe('in less than a minute');
    expect(inWords(60)).toBe('in 1 minute');
    expect(inWords(3600)).toBe('in 60 minutes');
    expect(inWords(3 * 3600)).toBe('in 3 hours');
    expect(inWords(86400)).toBe('in 24 hours');
    expect(inWords(7 * 86400)).toBe('in 7 days');
    expect(inWords(90 * 86400)).toBe('in 3 months');
    expect(inWords(3 * 365 * 86400)).toBe('in 3 years');
  });
});
