import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseConfig } from '../../../src/hub/config/loader.js';

/** The ConfigError thrown by parseConfig, or a test failure. */
function problemsOf(text: string, env: NodeJS.ProcessEnv = {}): ConfigError {
  try {
    parseConfig(text, 'atrium.yaml', env);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('parseConfig: valid files', () => {
  it('an empty file gives all defaults', () => {
    const c = parseConfig('', 'atrium.yaml', {});
    expect(c.hub.port).toBe(8081);
    expect(c.hub.stateDir).toBe('./.atrium-state');
    expect(c.proxy.external).toBe(false);
    expect(c.authenticator.kind).toBe('dummy');
    expect(c.authenticator.header.userHeader).toBe('Remote-User');
    expect(c.spawner.kind).toBe('local');
    expect(c.spawner.namedServers.enabled).toBe(false);
    expect(c.hooks).toEqual([]);
    expect(c.logLevel).toBe('info');
  });

  it('a comment-only file is valid too', () => {
    expect(parseConfig('# nothing here\n', 'atrium.yaml', {}).hub.port).toBe(8081);
  });

  it('fills defaults beside given keys, also inside hook entries', () => {
    // The hook's required keys (checked by its descriptor) are given; everything else defaults.
    const ldapAccount = '{ urls: [ldap://127.0.0.1:1389], bindDn: cn=admin, bindPassword: pw, searchBase: dc=x, dnTemplate: "uid={username},dc=x", counterDn: cn=uidNext }';
    const c = parseConfig(`hub:\n  port: 9000\nhooks:\n  - kind: ldap-account\n    ldapAccount: ${ldapAccount}\n`, 'atrium.yaml', {});
    expect(c.hub.port).toBe(9000);
    expect(c.hub.ip).toBe('127.0.0.1');
    expect(c.hooks[0]?.timeoutSeconds).toBe(30);
  });

  it('deep-freezes the result', () => {
    const c = parseConfig('authenticator:\n  adminUsers: [root]\n', 'atrium.yaml', {});
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.authenticator)).toBe(true);
    expect(Object.isFrozen(c.authenticator.adminUsers)).toBe(true);
    expect(() => (c.authenticator.adminUsers as string[]).push('x')).toThrow(TypeError);
    expect(() => {
      (c.hub as { port: number }).port = 1;
    }).toThrow(TypeError);
  });

  it('substitutes ${VAR} and ${VAR:-default}, and $${ is literal', () => {
    const text = [
      'proxy:',
      '  external: true',
      '  authToken: ${TOKEN}',
      '  apiUrl: "http://${API_HOST:-127.0.0.1}:8001"',
      'hub:',
      '  port: ${PORT}',
      '  stateDir: "${EMPTY:-/var/lib/atrium}"',
      'spawner:',
      '  environment:',
      '    LITERAL: "$${NOT_A_VAR}"',
      '    QUOTED: "${PORT}"',
    ].join('\n');
    const c = parseConfig(text, 'atrium.yaml', { TOKEN: 's3cret', PORT: '9001', EMPTY: '' });
    expect(c.proxy.authToken).toBe('s3cret');
    expect(c.proxy.apiUrl).toBe('http://127.0.0.1:8001');
    expect(c.hub.port).toBe(9001);
    expect(c.hub.stateDir).toBe('/var/lib/atrium');
    expect(c.spawner.environment).toEqual({ LITERAL: '${NOT_A_VAR}', QUOTED: '9001' });
  });

  it('loadConfig reads a file; a missing file is a ConfigError', () => {
    const dir = mkdtempSync(join(tmpdir(), 'atrium-config-'));
    const file = join(dir, 'atrium.yaml');
    writeFileSync(file, 'hub:\n  port: 8082\n');
    expect(loadConfig(file, {}).hub.port).toBe(8082);
    expect(() => loadConfig(join(dir, 'nope.yaml'), {})).toThrow(/nope\.yaml: cannot read the file \(ENOENT\)/);
  });
});

describe('parseConfig: problems', () => {
  it('reports a YAML syntax error with its line', () => {
    const e = problemsOf('hub:\n  port: 8081\n  ip: [127.0.0.1\nproxy: {}\n');
    expect(e.problems[0]?.line).toBeGreaterThanOrEqual(3);
    expect(e.message).toMatch(/^atrium\.yaml:\d+: YAML: /);
  });

  it('reports duplicate keys with the line of the second one', () => {
    const e = problemsOf('hub:\n  port: 1\n  port: 2\n');
    expect(e.problems).toHaveLength(1);
    expect(e.problems[0]?.line).toBe(3);
  });

  it('unknown key with a did-you-mean, in the documented format', () => {
    const e = problemsOf('authenticator:\n  kind: header\n  header:\n    trustedProxies: [203.0.113.5]\n    userHedaer: X-User\n');
    expect(e.message).toBe('atrium.yaml:5: authenticator.header.userHedaer: unknown key (did you mean "userHeader"?)');
    expect(e.problems).toEqual([{ path: 'authenticator.header.userHedaer', line: 5, message: 'unknown key (did you mean "userHeader"?)' }]);
  });

  it('snake_case keys suggest the camelCase name; hopeless keys list the allowed ones', () => {
    const e = problemsOf('authenticator:\n  admin_users: [a]\nmetrics:\n  zzzz: 1\n');
    expect(e.message).toContain('atrium.yaml:2: authenticator.admin_users: unknown key (did you mean "adminUsers"?)');
    expect(e.message).toContain('atrium.yaml:4: metrics.zzzz: unknown key (allowed: authenticate)');
  });

  it('wrong types', () => {
    const e = problemsOf('hub:\n  port: eighty\n  trustedProxies: 10.0.0.0/8\nproxy: yes\n');
    expect(e.message).toContain('atrium.yaml:2: hub.port: must be an integer (got a string)');
    expect(e.message).toContain('atrium.yaml:3: hub.trustedProxies: must be a list (got a string)');
    expect(e.message).toContain('atrium.yaml:4: proxy: must be a mapping (got a string)');
  });

  it('ranges, patterns and formats', () => {
    const e = problemsOf('hub:\n  port: 70000\n  baseUrl: hub\n  publicUrl: notebooks.example.edu\n');
    expect(e.message).toContain('atrium.yaml:2: hub.port: must be <= 65535');
    expect(e.message).toContain('atrium.yaml:3: hub.baseUrl: must match the regular expression');
    expect(e.message).toContain('atrium.yaml:4: hub.publicUrl: must be an absolute URL');
  });

  it('enum values list the choices and suggest the closest', () => {
    const e = problemsOf('authenticator:\n  kind: headr\nlogLevel: verbose\n');
    expect(e.message).toBe(
      [
        'atrium.yaml:2: authenticator.kind: must be one of "dummy", "header", "ldap" (got "headr") (did you mean "header"?)',
        'atrium.yaml:3: logLevel: must be one of "debug", "info", "warn", "error" (got "verbose")',
      ].join('\n'),
    );
  });

  it('a missing environment variable names the key, the line and the variable', () => {
    const e = problemsOf('proxy:\n  external: true\n  authToken: ${PROXY_TOKEN}\n');
    expect(e.problems).toContainEqual({
      path: 'proxy.authToken',
      line: 3,
      message: 'environment variable PROXY_TOKEN is not set (use ${PROXY_TOKEN:-default} for a default)',
    });
  });

  it('bad references are reported, not silently kept', () => {
    const e = problemsOf('hub:\n  stateDir: "${1BAD}"\n  ip: "${UNCLOSED"\n');
    expect(e.message).toContain('atrium.yaml:2: hub.stateDir: bad environment variable reference ${1BAD}');
    expect(e.message).toContain('atrium.yaml:3: hub.ip: unterminated ${');
  });

  it('renamed and removed keys name their replacement (and are not also "unknown")', () => {
    const e = problemsOf(
      'authenticator:\n  whitelist: [alice]\nspawner:\n  startTimeout: 30\nhub:\n  dbUrl: sqlite:///x\nproxy:\n  shouldStart: false\n',
    );
    expect(e.problems.map((p) => `${p.line}: ${p.path}: ${p.message}`)).toEqual([
      '2: authenticator.whitelist: removed; use authenticator.allowedUsers instead',
      '4: spawner.startTimeout: removed; use spawner.startTimeoutSeconds instead',
      '6: hub.dbUrl: removed (the SQLite database lives in hub.stateDir)',
      '8: proxy.shouldStart: removed; use proxy.external instead (with the opposite meaning)',
    ]);
  });

  it('cross-field checks', () => {
    const e = problemsOf(
      [
        'proxy:',
        '  external: true',
        'authenticator:',
        '  kind: header',
        '  usernamePattern: "^[a-z"',
        'hub:',
        '  trustedProxies: [10.0.0.0/8, not-an-ip]',
      ].join('\n'),
    );
    expect(e.message).toContain('atrium.yaml:2: proxy.external: an external proxy needs proxy.authToken');
    expect(e.message).toContain('atrium.yaml:3: authenticator.header.trustedProxies: the header authenticator needs at least one trusted proxy');
    expect(e.message).toContain('atrium.yaml:5: authenticator.usernamePattern: invalid regular expression');
    expect(e.message).toContain('atrium.yaml:7: hub.trustedProxies[1]: "not-an-ip" is not an IP address or CIDR');
  });

  it('header JWT options are checked across keys', () => {
    const e = problemsOf(
      [
        'authenticator:',
        '  kind: header',
        '  header:',
        '    trustedProxies: [127.0.0.1]',
        '    jwt:',
        '      secret: short',
        '      jwksUrl: https://sso.example.edu/jwks.json',
        '      issuer: portal',
        '      audience: atrium',
      ].join('\n'),
    );
    expect(e.message).toContain('atrium.yaml:5: authenticator.header.jwt: set exactly one of secret, jwksFile, jwksUrl');
    expect(e.message).toContain('atrium.yaml:6: authenticator.header.jwt.secret: must be at least 32 characters');
    expect(e.message).toContain('atrium.yaml:7: authenticator.header.jwt.jwksUrl: is not listed in authenticator.header.jwt.allowedJwksUrls');
  });

  it('reports several problems of different kinds at once, in file order', () => {
    const text = [
      'hub:', //                                    1
      '  port: "abc"', //                           2
      'authenticator:', //                          3
      '  kind: heder', //                           4
      '  blacklist: [mallory]', //                  5
      '  header:', //                               6
      '    userHedaer: X', //                       7
      'spawner:', //                                8
      '  environment:', //                          9
      '    SECRET: ${MISSING}', //                  10
      'hooks:', //                                  11
      '  - kind: ldap-account', //                  12
      '    timeoutSeconds: soon', //                13
      '    extra: 1', //                            14
    ].join('\n');
    const e = problemsOf(text);
    expect(e.problems.map((p) => [p.line, p.path])).toEqual([
      [2, 'hub.port'],
      [4, 'authenticator.kind'],
      [5, 'authenticator.blacklist'],
      [7, 'authenticator.header.userHedaer'],
      [10, 'spawner.environment.SECRET'],
      // The hook entry names no ldapAccount block: its descriptor's check reports the required keys.
      ...['urls', 'bindDn', 'bindPassword', 'searchBase', 'dnTemplate', 'counterDn'].map((k) => [12, `hooks[0].ldapAccount.${k}`]),
      [13, 'hooks[0].timeoutSeconds'],
      [14, 'hooks[0].extra'],
    ]);
    expect(e.message.split('\n')).toHaveLength(13);
  });

  it('the top level must be a mapping', () => {
    expect(problemsOf('- a\n- b\n').message).toMatch(/^atrium\.yaml:1: the file must be a mapping/);
  });
});

describe('parseConfig: unions', () => {
  it('fills defaults in the branch a discriminated union chose (ajv skips anyOf)', () => {
    const c = parseConfig('spawner:\n  swarm:\n    mounts:\n      - { type: volume, source: home, target: /home/jovyan }\n', 'atrium.yaml', {});
    expect(c.spawner.swarm.mounts[0]).toMatchObject({ type: 'volume', readOnly: false, ephemeral: false, driverOptions: {} });
  });

  it('reports only the chosen branch, or the discriminator when none matches', () => {
    const e = problemsOf('spawner:\n  swarm:\n    mounts:\n      - { type: volume, target: /x }\n      - { type: nfs, target: /y }\n');
    expect(e.problems.map((p) => `${p.line}: ${p.path}: ${p.message}`)).toEqual([
      '4: spawner.swarm.mounts[0].source: required key is missing',
      '5: spawner.swarm.mounts[1].type: must be one of "bind", "volume", "tmpfs", "sshfs" (got "nfs")',
    ]);
  });
});
