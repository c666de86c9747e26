import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { AuthRequest } from '../../src/authenticators/authenticator.js';
import { dummyAuthenticatorKind } from '../../src/authenticators/dummy/index.js';
import { runAuthenticatorContract } from './contract.js';

const request: AuthRequest = { headers: {}, peerAddress: '127.0.0.1', method: 'POST', url: '/hub/login' };

function capturingLogger() {
  const lines: { level: number; msg: string }[] = [];
  const log = pino({ level: 'warn' }, { write: (s: string) => lines.push(JSON.parse(s) as { level: number; msg: string }) });
  return { log, lines };
}

describe('DummyAuthenticator', () => {
  it('is a form authenticator and warns loudly at creation', () => {
    const { log, lines } = capturingLogger();
    const auth = dummyAuthenticatorKind.create({ options: { password: '' }, log });
    expect(dummyAuthenticatorKind.kind).toBe('dummy');
    expect(auth.mode).toBe('form');
    expect(lines.some((l) => l.level === 40 && l.msg === 'DummyAuthenticator: anyone can log in; development only')).toBe(true);
  });

  it('never logs the shared password', () => {
    const { log, lines } = capturingLogger();
    dummyAuthenticatorKind.create({ options: { password: 'hunter2-secret' }, log });
    expect(JSON.stringify(lines)).not.toContain('hunter2-secret');
  });

  it('empty password option: any password, any name', async () => {
    const auth = dummyAuthenticatorKind.create({ options: { password: '' }, log: pino({ level: 'silent' }) });
    await expect(auth.authenticate(request, { username: 'alice', password: 'whatever' })).resolves.toEqual({ name: 'alice' });
    await expect(auth.authenticate(request, { username: 'bob' })).resolves.toEqual({ name: 'bob' });
  });

  it('shared password: right one accepted, wrong, empty or longer ones refused', async () => {
    const auth = dummyAuthenticatorKind.create({ options: { password: 'sesame' }, log: pino({ level: 'silent' }) });
    await expect(auth.authenticate(request, { username: 'alice', password: 'sesame' })).resolves.toEqual({ name: 'alice' });
    for (const password of ['', 'Sesame', 'sesame ', 'sesamesesame', 'x'.repeat(10_000)]) {
      await expect(auth.authenticate(request, { username: 'alice', password })).resolves.toBeNull();
    }
    await expect(auth.authenticate(request, { username: 'alice' })).resolves.toBeNull();
  });

  it('a missing or blank user name is no login; the name is trimmed, not otherwise changed', async () => {
    const auth = dummyAuthenticatorKind.create({ options: { password: '' }, log: pino({ level: 'silent' }) });
    await expect(auth.authenticate(request, { password: 'x' })).resolves.toBeNull();
    await expect(auth.authenticate(request, { username: '   ' })).resolves.toBeNull();
    await expect(auth.authenticate(request, { username: ' Alice ' })).resolves.toEqual({ name: 'Alice' });
  });
});

runAuthenticatorContract('dummy with a shared password', async () => ({
  create: () => dummyAuthenticatorKind.create({ options: { password: 'sesame' }, log: pino({ level: 'silent' }) }),
  attempt: (username, password) => ({ request, form: { username, password } }),
  good: { name: 'alice', password: 'sesame', expectName: 'alice' },
  wrong: { name: 'alice', password: 'open' },
  unavailable: 'the dummy authenticator asks no backend',
}));

runAuthenticatorContract('dummy, any password', async () => ({
  create: () => dummyAuthenticatorKind.create({ options: { password: '' }, log: pino({ level: 'silent' }) }),
  attempt: (username, password) => ({ request, form: { username, password } }),
  good: { name: 'bob', password: 'anything', expectName: 'bob' },
  wrong: 'without a shared password any password is right (development only)',
  unavailable: 'the dummy authenticator asks no backend',
}));
