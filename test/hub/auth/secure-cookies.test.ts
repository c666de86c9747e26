/** Cookies carry Secure when hub.publicUrl is https (DESIGN.md, security defaults). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub, type TestHub } from '../harness.js';

const FORM = { 'Content-Type': 'application/x-www-form-urlencoded' };
const form = (o: Record<string, string>) => new URLSearchParams(o).toString();

describe('Secure cookies under an https public URL', () => {
  let sth: TestHub;
  beforeAll(async () => {
    sth = await startTestHub({ hub: { publicUrl: 'https://notebooks.example.edu/' } });
  });
  afterAll(async () => {
    await sth?.teardown();
  });

  it('login and XSRF cookies are Secure', async () => {
    const page = await sth.running.app.inject({ method: 'GET', url: '/hub/login' });
    const xsrfSet = ([] as string[]).concat(page.headers['set-cookie'] ?? []);
    expect(xsrfSet.find((c) => c.startsWith('atrium-xsrf='))).toMatch(/;\s*Secure/i);
    const preLogin = /atrium-xsrf=([^;]+)/.exec(xsrfSet.join('\n'))![1]!;
    const xsrf = /name="_xsrf" value="([^"]+)"/.exec(page.body)![1]!;
    const res = await sth.running.app.inject({
      method: 'POST',
      url: '/hub/login',
      headers: { ...FORM, cookie: `atrium-xsrf=${preLogin}` },
      payload: form({ _xsrf: xsrf, username: 'alice', password: 'x' }),
    });
    expect(res.statusCode).toBe(302);
    const set = ([] as string[]).concat(res.headers['set-cookie'] ?? []);
    const login = set.find((c) => c.startsWith('atrium-hub-login='))!;
    expect(login).toMatch(/;\s*Secure/i);
    expect(login).toMatch(/;\s*HttpOnly/i);
    expect(login).toMatch(/;\s*SameSite=Lax/i);
  });
});
