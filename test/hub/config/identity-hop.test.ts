/**
 * `atrium config check` (and hub start, which loads the config with the same code) refuses the
 * combinations in which a process on the hub's host could assert an identity: header identities
 * or X-Forwarded-For believed from an address of this host while users' servers run here (local
 * spawner), without a signed JWT. The safe neighbours of each refused case are accepted.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { configCheck } from '../../../src/hub/config/check.js';
import { identityHopProblems } from '../../../src/authenticators/header/identity-hop.js';

const dir = mkdtempSync(join(tmpdir(), 'atrium-hop-check-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
function check(yaml: string): { ok: boolean; output: string } {
  const path = join(dir, `c${n++}.yaml`);
  writeFileSync(path, yaml);
  return configCheck(path, { PORTAL_JWT_SECRET: 'p'.repeat(40) });
}

const JWT = '    jwt: { secret: "${PORTAL_JWT_SECRET}", issuer: portal, audience: atrium }\n';
const header = (trusted: string, extra = '') => `authenticator:\n  kind: header\n  header:\n    trustedProxies: ${trusted}\n${extra}`;

describe('refused: a local process could assert an identity', () => {
  it.each(['[127.0.0.1]', '[127.0.0.2/32]', '[127.0.0.0/8]', '[0.0.0.0/0]', '["::1"]', '["::ffff:127.0.0.1"]', '["::/0"]'])(
    'authenticator.header.trustedProxies %s with the local spawner and no jwt',
    (trusted) => {
      const r = check(`${header(trusted)}spawner:\n  kind: local\n`);
      expect(r.ok).toBe(false);
      expect(r.output).toMatch(/:4: authenticator\.header\.trustedProxies\[0\]: ".*" covers .*, an address of this host, while spawner\.kind is local and authenticator\.header\.jwt is not set/);
      expect(r.output).toContain('Set authenticator.header.jwt');
      expect(r.output).toMatch(/1 problem$/);
    },
  );

  it('hub.trustedProxies naming loopback (an external CHP on this host) with a portal elsewhere', () => {
    const r = check([
      'hub:\n  trustedProxies: [127.0.0.1]',
      'proxy:\n  external: true\n  authToken: t0ken',
      header('[203.0.113.5]'),
    ].join('\n'));
    expect(r.ok).toBe(false);
    expect(r.output).toMatch(/:2: hub\.trustedProxies\[0\]: "127\.0\.0\.1" covers 127\.0\.0\.1, an address of this host/);
    expect(r.output).toContain('name the portal in X-Forwarded-For');
    expect(r.output).toContain('ATRIUM_PROXY_PROOF or --proxy-proof-file');
  });

  it('a trusted network that contains one of this host\'s own addresses', () => {
    const data = { authenticator: { kind: 'header', header: { trustedProxies: ['198.51.100.0/24'] } }, spawner: { kind: 'local' } };
    const ctx = { config: data, spawner: { name: 'local', serversOnHubHost: true } };
    const problems = identityHopProblems(data.authenticator.header, ctx, ['127.0.0.1', '::1', '198.51.100.7', 'fe80::1']);
    expect(problems).toEqual([{ segments: ['authenticator', 'header', 'trustedProxies', 0], message: expect.stringContaining('"198.51.100.0/24" covers 198.51.100.7') }]);
    // The same network, on a host without an address in it:
    expect(identityHopProblems(data.authenticator.header, ctx, ['127.0.0.1', '::1', '198.51.101.7'])).toEqual([]);
  });
});

describe('accepted: the safe neighbours', () => {
  it('loopback trusted with a signed JWT (portal on this host)', () => {
    const r = check(`${header('[127.0.0.1]', JWT)}spawner:\n  kind: local\n`);
    expect(r.output).toMatch(/: ok\n/);
  });

  it('hub.trustedProxies loopback with a signed JWT', () => {
    const r = check(['hub:\n  trustedProxies: [127.0.0.1]', 'proxy:\n  external: true\n  authToken: t0ken', header('[203.0.113.5]', JWT)].join('\n'));
    expect(r.ok).toBe(true);
  });

  it('a portal on another host, no JWT, local spawner, the child proxy', () => {
    expect(check(`${header('[203.0.113.5/32]')}spawner:\n  kind: local\n`).ok).toBe(true);
  });

  it('loopback trusted when servers do not run as local processes (swarm)', () => {
    expect(check(`${header('[127.0.0.1]')}spawner:\n  kind: swarm\n  swarm:\n    hubId: h\n    images: [{ image: i, name: n }]\n`).output).toMatch(/: ok\n/);
  });

  it('hub.trustedProxies loopback with another authenticator (no identity comes from headers)', () => {
    expect(check('hub:\n  trustedProxies: [127.0.0.1]\nproxy:\n  external: true\n  authToken: t0ken\n').ok).toBe(true);
  });
});
