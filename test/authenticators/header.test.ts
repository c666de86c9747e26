import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Value } from '@sinclair/typebox/value';
import { SignJWT, UnsecuredJWT, exportJWK, generateKeyPair, type JWTPayload } from 'jose';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AuthRefusedError,
  AuthUnavailableError,
  type AuthRequest,
  type Authenticator,
} from '../../src/authenticators/authenticator.js';
import { headerAuthenticatorKind } from '../../src/authenticators/header/index.js';
import { HeaderAuthenticatorOptions } from '../../src/authenticators/header/options.js';
import { freePort } from '../services/util.js';
import { runAuthenticatorContract } from './contract.js';

const silent = pino({ level: 'silent' });
const SECRET = 'a-shared-secret-of-at-least-32-characters!';

function make(options: Record<string, unknown>, log = silent): Authenticator {
  const full = Value.Default(HeaderAuthenticatorOptions, Value.Clone({ trustedProxies: ['127.0.0.1', '::1'], ...options }));
  return headerAuthenticatorKind.create({ options: full as HeaderAuthenticatorOptions, log });
}

function req(headers: Record<string, string | string[]>, peerAddress = '127.0.0.1'): AuthRequest {
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  return { headers: lower, peerAddress, method: 'GET', url: '/hub/login' };
}

async function refused(p: Promise<unknown>, message: RegExp): Promise<void> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(AuthRefusedError);
  expect((e as Error).message).toMatch(message);
}

describe('HeaderAuthenticator: trusted proxies', () => {
  const auth = make({ trustedProxies: ['127.0.0.1', '10.0.0.0/8', 'fd00::/8'] });

  it('is a request authenticator', () => expect(auth.mode).toBe('request'));

  it('accepts the identity header from trusted addresses, including IPv4-mapped IPv6', async () => {
    for (const peer of ['127.0.0.1', '::ffff:127.0.0.1', '10.1.2.3', 'fd00::5']) {
      await expect(auth.authenticate(req({ 'Remote-User': 'alice' }, peer), {})).resolves.toEqual({ name: 'alice' });
    }
  });

  it('refuses an identity header from anywhere else', async () => {
    for (const peer of ['127.0.0.2', '192.0.2.10', '::1', '::ffff:192.0.2.10', 'garbage', '']) {
      await refused(auth.authenticate(req({ 'Remote-User': 'alice' }, peer), {}), /only accepted from trusted proxies/);
    }
  });

  it('refuses untrusted peers even without the header; a trusted peer without it gets null', async () => {
    await refused(auth.authenticate(req({}, '192.0.2.10'), {}), /only accepted through the front proxy/);
    await expect(auth.authenticate(req({}), {})).resolves.toBeNull();
    await expect(auth.authenticate(req({ 'Remote-User': '' }), {})).resolves.toBeNull();
  });

  it('uses the configured header name, case-insensitively', async () => {
    const a = make({ userHeader: 'X-Portal-User' });
    await expect(a.authenticate(req({ 'x-portal-user': 'bob' }), {})).resolves.toEqual({ name: 'bob' });
    await expect(a.authenticate(req({ 'Remote-User': 'bob' }), {})).resolves.toBeNull();
  });

  it('refuses to be created without trusted proxies or with a bad CIDR', () => {
    expect(() => make({ trustedProxies: [] })).toThrow(/at least one trusted proxy/);
    expect(() => make({ trustedProxies: ['10.0.0.0/99'] })).toThrow(/not an IP address or CIDR/);
  });
});

describe('HeaderAuthenticator: hostile input', () => {
  const auth = make({});

  it('refuses absurdly long values with a clear message', async () => {
    await refused(auth.authenticate(req({ 'Remote-User': 'a'.repeat(100_000) }), {}), /Remote-User is too long \(100000 bytes, limit 16384\)/);
    await refused(auth.authenticate(req({ 'Remote-User': 'a'.repeat(1000) }), {}), /not a usable user name/);
  });

  it('refuses control characters', async () => {
    for (const v of ['alice\nadmin', 'alice\r\nX-Evil: 1', 'al\u0000ice', 'alice\u007f', 'a\tb']) {
      await refused(auth.authenticate(req({ 'Remote-User': v }), {}), /contains control characters/);
    }
  });

  it('refuses a repeated identity header', async () => {
    await refused(auth.authenticate(req({ 'Remote-User': ['alice', 'root'] }), {}), /more than once/);
  });

  it('never logs header values or auth state', async () => {
    const lines: string[] = [];
    const log = pino({ level: 'debug' }, { write: (s: string) => lines.push(s) });
    const a = make(
      { authStateHeaders: [{ header: 'X-Auth-State', key: 'portal', parse: 'json' }] },
      log,
    );
    await a.authenticate(req({ 'Remote-User': 'alice', 'X-Auth-State': '{"PRIVATEKEY":"TOPSECRETKEY"}' }), {});
    await a.authenticate(req({ 'Remote-User': 'alice', 'X-Auth-State': 'TOPSECRETKEY-not-json' }), {}).catch(() => {});
    expect(lines.join('')).not.toContain('TOPSECRETKEY');
    expect(lines.join('')).toContain('"authStateKeys":["portal"]');
  });
});

describe('HeaderAuthenticator: user name rules and auth_state headers', () => {
  it('extracts and rewrites an e-mail into a user name', async () => {
    const a = make({ pattern: '^(?<value>[^@]+)@uni\\.edu$', lowercase: true, replace: [{ pattern: '[._]', with: '-' }] });
    await expect(a.authenticate(req({ 'Remote-User': 'Jane.Doe@uni.edu' }), {})).resolves.toEqual({ name: 'jane-doe' });
    await refused(a.authenticate(req({ 'Remote-User': 'jane@evil.example' }), {}), /Remote-User identity does not have the expected form/);
  });

  const stateAuth = make({
    authStateHeaders: [
      { header: 'X-Auth-State', key: 'portal', parse: 'json', encoding: 'base64', required: true },
      { header: 'X-Plain-State', key: 'plain', parse: 'json', fields: ['HOST', 'USERNAME'] },
      { header: 'X-Mail', key: 'email', lowercase: true },
      { header: 'X-Home', key: 'home', pattern: '^/home/(\\w+)$' },
    ],
  });
  const portal = { HOST: 'login.cluster', USERNAME: 'jdoe', PATH: '/home/jdoe', PRIVATEKEY: '-----BEGIN KEY-----\nabc\n-----END KEY-----\n' };
  const b64 = (s: string) => Buffer.from(s).toString('base64');

  it('parses base64 JSON, plain JSON (selected fields) and text headers into auth_state', async () => {
    const result = await stateAuth.authenticate(
      req({
        'Remote-User': 'jdoe',
        'X-Auth-State': b64(JSON.stringify(portal)),
        'X-Plain-State': JSON.stringify({ HOST: 'h', USERNAME: 'u', PRIVATEKEY: 'dropped' }),
        'X-Mail': 'Jane.Doe@Uni.EDU',
        'X-Home': '/home/jdoe',
      }),
      {},
    );
    expect(result).toEqual({
      name: 'jdoe',
      authState: { portal, plain: { HOST: 'h', USERNAME: 'u' }, email: 'jane.doe@uni.edu', home: 'jdoe' },
    });
  });

  it('accepts base64url and leaves optional headers out', async () => {
    const url = Buffer.from(JSON.stringify({ HOST: 'ü?>>' })).toString('base64url');
    const result = await stateAuth.authenticate(req({ 'Remote-User': 'jdoe', 'X-Auth-State': url }), {});
    expect(result?.authState).toEqual({ portal: { HOST: 'ü?>>' } });
  });

  it('refuses a missing required header, bad base64, bad JSON, non-objects and unmatched text', async () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{}, /required header X-Auth-State is missing/],
      [{ 'X-Auth-State': 'not base64!' }, /not valid base64/],
      [{ 'X-Auth-State': b64('{"HOST":') }, /not valid JSON/],
      [{ 'X-Auth-State': b64('["HOST"]') }, /must hold a JSON object/],
      [{ 'X-Auth-State': b64('"text"') }, /must hold a JSON object/],
      [{ 'X-Auth-State': b64('{}'), 'X-Home': '/etc/passwd' }, /X-Home does not have the expected form/],
      [{ 'X-Auth-State': b64('{}'), 'X-Mail': b64('x').padEnd(20_000, 'A') }, /X-Mail is too long/],
    ];
    for (const [headers, message] of cases) {
      await refused(stateAuth.authenticate(req({ 'Remote-User': 'jdoe', ...headers }), {}), message);
    }
  });

  it('drops prototype-polluting keys from JSON state', async () => {
    const result = await stateAuth.authenticate(
      req({ 'Remote-User': 'jdoe', 'X-Auth-State': b64('{"__proto__":{"admin":true},"constructor":1,"HOST":"h"}') }),
      {},
    );
    expect(result?.authState).toEqual({ portal: { HOST: 'h' } });
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
  });
});

describe('HeaderAuthenticator: JWT identity', () => {
  const jwtOptions = { secret: SECRET, issuer: 'portal', audience: 'atrium', groupsClaim: 'groups' };
  const auth = make({ jwt: jwtOptions });
  const key = new TextEncoder().encode(SECRET);
  const sign = (claims: JWTPayload, opts: { exp?: string | number; aud?: string; iss?: string; key?: Uint8Array } = {}) => {
    const jwt = new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuedAt()
      .setIssuer(opts.iss ?? 'portal')
      .setAudience(opts.aud ?? 'atrium');
    if (opts.exp !== undefined) jwt.setExpirationTime(opts.exp);
    return jwt.sign(opts.key ?? key);
  };

  it('accepts a valid token, with or without "Bearer ", and takes groups from a claim', async () => {
    const token = await sign({ sub: 'alice', groups: ['staff', 'physics'] }, { exp: '5m' });
    const expected = { name: 'alice', groups: ['staff', 'physics'] };
    await expect(auth.authenticate(req({ 'Remote-User': token }), {})).resolves.toEqual(expected);
    await expect(auth.authenticate(req({ 'Remote-User': `Bearer ${token}` }), {})).resolves.toEqual(expected);
  });

  it('takes the user name from a configured claim and applies the name rules to it', async () => {
    const a = make({ jwt: { ...jwtOptions, userClaim: 'email' }, pattern: '^([^@]+)@', replace: [{ pattern: '\\.', with: '-' }] });
    const token = await sign({ sub: '1234', email: 'jane.doe@uni.edu' }, { exp: '5m' });
    // groupsClaim is configured but absent: the token says "no groups", which is not "unknown".
    await expect(a.authenticate(req({ 'Remote-User': token }), {})).resolves.toEqual({ name: 'jane-doe', groups: [] });
  });

  it('refuses forged, expired, wrong-audience, wrong-issuer, exp-less, unsigned and malformed tokens', async () => {
    const now = Math.floor(Date.now() / 1000);
    const cases: [string, RegExp][] = [
      [await sign({ sub: 'alice' }, { exp: '5m', key: new TextEncoder().encode('x'.repeat(40)) }), /signature/i],
      [await sign({ sub: 'alice' }, { exp: now - 3600 }), /expired/],
      [await sign({ sub: 'alice' }, { exp: '5m', aud: 'other-service' }), /aud claim/],
      [await sign({ sub: 'alice' }, { exp: '5m', iss: 'someone-else' }), /iss claim/],
      [await sign({ sub: 'alice' }), /exp claim/],
      [new UnsecuredJWT({ sub: 'alice', iss: 'portal', aud: 'atrium', exp: now + 300 }).encode(), /rejected/],
      ['alice', /rejected/],
      [await sign({ name: 'alice' }, { exp: '5m' }), /no "sub" claim/],
    ];
    for (const [token, message] of cases) await refused(auth.authenticate(req({ 'Remote-User': token }), {}), message);
  });

  it('allows clock skew within the tolerance only', async () => {
    const now = Math.floor(Date.now() / 1000);
    const a = make({ jwt: { ...jwtOptions, clockToleranceSeconds: 120 } });
    await expect(a.authenticate(req({ 'Remote-User': await sign({ sub: 'bob' }, { exp: now - 60 }) }), {})).resolves.toEqual({
      name: 'bob',
      groups: [],
    });
    await refused(a.authenticate(req({ 'Remote-User': await sign({ sub: 'bob' }, { exp: now - 600 }) }), {}), /expired/);
  });

  it('refuses weak or ambiguous key configuration at creation', () => {
    expect(() => make({ jwt: { ...jwtOptions, secret: 'short' } })).toThrow(/at least 32 characters/);
    expect(() => make({ jwt: { issuer: 'portal', audience: 'atrium' } })).toThrow(/exactly one of secret, jwksFile, jwksUrl/);
    expect(() => make({ jwt: { ...jwtOptions, algorithms: ['RS256'] } })).toThrow(/cannot be used with a shared secret/);
    expect(() => make({ jwt: { issuer: 'p', audience: 'a', jwksUrl: 'http://127.0.0.1:1/jwks' } })).toThrow(/not listed in/);
  });
});

describe('HeaderAuthenticator: JWT with a key set', () => {
  let server: Server;
  let jwksUrl = '';
  let privateKey: CryptoKey;
  let jwksFile = '';
  let serveKeys = true;

  beforeAll(async () => {
    const pair = await generateKeyPair('ES256');
    privateKey = pair.privateKey;
    const jwks = { keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' }] };
    jwksFile = join(mkdtempSync(join(tmpdir(), 'atrium-jwks-')), 'jwks.json');
    writeFileSync(jwksFile, JSON.stringify(jwks));
    server = createServer((_req, res) => {
      if (!serveKeys) return void res.writeHead(500).end();
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwks));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const sign = (key: CryptoKey, sub = 'carol') =>
    new SignJWT({ sub }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer('sso').setAudience('atrium').setExpirationTime('5m').sign(key);

  it('verifies against a JWKS file', async () => {
    const a = make({ jwt: { jwksFile, issuer: 'sso', audience: 'atrium' } });
    await expect(a.authenticate(req({ 'Remote-User': await sign(privateKey) }), {})).resolves.toEqual({ name: 'carol' });
    const other = await generateKeyPair('ES256');
    await refused(a.authenticate(req({ 'Remote-User': await sign(other.privateKey) }), {}), /signature/i);
  });

  it('verifies against an allowed JWKS URL; an unreachable key set is "unavailable", not refused', async () => {
    const a = make({ jwt: { jwksUrl, allowedJwksUrls: [jwksUrl], issuer: 'sso', audience: 'atrium' } });
    await expect(a.authenticate(req({ 'Remote-User': await sign(privateKey) }), {})).resolves.toEqual({ name: 'carol' });

    serveKeys = false;
    const b = make({ jwt: { jwksUrl, allowedJwksUrls: [jwksUrl], issuer: 'sso', audience: 'atrium' } });
    const e = await b.authenticate(req({ 'Remote-User': await sign(privateKey) }), {}).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(AuthUnavailableError);
    serveKeys = true;
  });
});

// The shared contract: the identity header alone (no secret to check), and a signed identity
// (HS256 JWT) whose key-set variant can be made unreachable.
const contractReq = (name: string): AuthRequest => req({ 'Remote-User': name });

runAuthenticatorContract('header', async () => ({
  create: () => make({}),
  attempt: (name) => ({ request: contractReq(name), form: {} }),
  good: { name: 'alice', password: '', expectName: 'alice' },
  wrong: 'the plain header authenticator checks no secret: the trusted proxy vouches for the name',
  unavailable: 'the plain header authenticator asks no backend',
}));

runAuthenticatorContract('header with a signed JWT', async () => {
  const jwt = { secret: SECRET, issuer: 'portal', audience: 'atrium' };
  const signWith = (secret: string) =>
    new SignJWT({ sub: 'dora' }).setProtectedHeader({ alg: 'HS256' }).setIssuer('portal').setAudience('atrium').setExpirationTime('10m').sign(new TextEncoder().encode(secret));
  const deadJwks = `http://127.0.0.1:${await freePort()}/jwks.json`;
  const { privateKey } = await generateKeyPair('ES256');
  const forDeadJwks = await new SignJWT({ sub: 'dora' }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer('portal').setAudience('atrium').setExpirationTime('10m').sign(privateKey);
  return {
    create: () => make({ jwt }),
    attempt: (name) => ({ request: contractReq(name), form: {} }),
    good: { name: await signWith(SECRET), password: '', expectName: 'dora' },
    wrong: { name: await signWith(`${SECRET}-not-the-one`), password: '' },
    unavailable: {
      create: () => make({ jwt: { jwksUrl: deadJwks, allowedJwksUrls: [deadJwks], issuer: 'portal', audience: 'atrium' } }),
      attempt: { request: contractReq(forDeadJwks), form: {} },
    },
  };
});
