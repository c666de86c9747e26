/**
 * `atrium config check` catches everything a kind's factory refuses: for every kind, the option
 * mistakes its constructor used to catch are reported with key path and line, and every config
 * that passes the check (the examples in config/, edge cases) can be created by the factory.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { configCheck } from '../../../src/hub/config/check.js';
import { loadConfig } from '../../../src/hub/config/loader.js';
import { loadAuthenticator, loadHooks, loadSpawnerKind } from '../../../src/hub/registry.js';

const dir = mkdtempSync(join(tmpdir(), 'atrium-kind-options-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const write = (yaml: string) => {
  const path = join(dir, `c${n++}.yaml`);
  writeFileSync(path, yaml);
  return path;
};
const log = pino({ level: 'silent' });

/** Loads as hub start does, then runs each configured kind's factory. */
async function createAll(path: string, env: NodeJS.ProcessEnv = {}): Promise<void> {
  const config = loadConfig(path, env);
  const auth = await loadAuthenticator(config, log);
  await auth.close?.();
  const { kind, options } = await loadSpawnerKind(config);
  kind.create({ options, user: { name: 'alice', admin: false, groups: [] }, serverName: '', log, logDir: dir });
  for (const { hook } of await loadHooks(config, log)) await hook.close?.();
}

const LDAP_OK = 'authenticator:\n  kind: ldap\n  ldap:\n    urls: [ldap://127.0.0.1:1389]\n    bindDnTemplates: ["uid={username},dc=x"]\n';
const HOOK_OK = [
  'hooks:',
  '  - kind: ldap-account',
  '    ldapAccount:',
  '      urls: [ldap://127.0.0.1:1389]',
  '      bindDn: cn=admin,dc=x',
  '      bindPassword: pw',
  '      searchBase: dc=x',
  '      dnTemplate: "uid={username},ou=people,dc=x"',
  '      counterDn: cn=uidNext,dc=x',
  '',
].join('\n');

/** Per kind: a file with the option mistakes its constructor used to refuse, and what check must say. */
const mistakes: { kind: string; yaml: string; expected: RegExp[] }[] = [
  {
    kind: 'authenticator ldap (no urls, no bind method)',
    yaml: 'authenticator:\n  kind: ldap\n  ldap:\n    tls: starttls\n',
    expected: [/:3: authenticator\.ldap\.urls: at least one server URL is required/, /:3: authenticator\.ldap\.bindDnTemplates: set bindDnTemplates, or lookupDn with searchBase/],
  },
  {
    kind: 'authenticator ldap (lookupDn without searchBase, half a search user, bad filter, bad regex, wrong scheme, missing CA)',
    yaml: [
      'authenticator:',
      '  kind: ldap',
      '  ldap:',
      '    urls: [ldaps://127.0.0.1:1636]',
      '    caFile: /nonexistent/atrium-ca.pem',
      '    lookupDn: true',
      '    searchUserDn: cn=reader,dc=x',
      '    searchFilter: "(uid={username}"',
      '    usernamePattern: "[a-z"',
      '',
    ].join('\n'),
    expected: [
      /:3: authenticator\.ldap\.searchBase: is required with lookupDn/,
      /:3: authenticator\.ldap\.searchUserPassword: searchUserDn and searchUserPassword go together/,
      /:4: authenticator\.ldap\.urls\[0\]: tls: starttls needs ldap:\/\/ URLs/,
      /:5: authenticator\.ldap\.caFile: cannot read the file \(ENOENT\)/,
      /:8: authenticator\.ldap\.searchFilter: not a valid LDAP filter template/,
      /:9: authenticator\.ldap\.usernamePattern: invalid regular expression/,
    ],
  },
  {
    kind: 'authenticator header (jwksFile unreadable, no trusted proxy)',
    yaml: 'authenticator:\n  kind: header\n  header:\n    jwt:\n      jwksFile: /nonexistent/jwks.json\n      issuer: portal\n      audience: atrium\n',
    expected: [/:3: authenticator\.header\.trustedProxies: the header authenticator needs at least one trusted proxy/, /:5: authenticator\.header\.jwt\.jwksFile: cannot read the key set \(ENOENT\)/],
  },
  {
    kind: 'hook ldap-account (required keys, unique attribute without template or with {uidNumber})',
    yaml: 'hooks:\n  - kind: ldap-account\n    ldapAccount:\n      urls: [ldap://127.0.0.1:1389]\n      uniqueAttributes: [employeeNumber, gidNumber]\n',
    expected: [
      ...['bindDn', 'bindPassword', 'searchBase', 'dnTemplate', 'counterDn'].map((k) => new RegExp(`:3: hooks\\[0\\]\\.ldapAccount\\.${k}: required key is missing`)),
      /:5: hooks\[0\]\.ldapAccount\.uniqueAttributes\[0\]: "employeeNumber" has no template in attributes/,
      /:5: hooks\[0\]\.ldapAccount\.uniqueAttributes\[1\]: "gidNumber" must not use \{uidNumber\}/,
    ],
  },
  {
    kind: 'spawner swarm (dockerUrl scheme the client cannot use)',
    yaml: 'spawner:\n  kind: swarm\n  swarm:\n    dockerUrl: ftp://127.0.0.1/docker\n',
    expected: [/:4: spawner\.swarm\.dockerUrl: must be unix:\/\/\/path\/docker\.sock/],
  },
];

describe('config check refuses what a kind constructor refuses, with key path and line', () => {
  it.each(mistakes)('$kind', async ({ yaml, expected }) => {
    const path = write(yaml);
    const r = configCheck(path, {});
    expect(r.ok).toBe(false);
    for (const e of expected) expect(r.output).toMatch(e);
    expect(r.output).toMatch(new RegExp(`${expected.length} problems?$`));
  });
});

const examplesDir = fileURLToPath(new URL('../../../config/', import.meta.url));

/** An example as deployed: ${VAR}s set, the site CA file it names present. */
function deployed(name: string): { path: string; env: NodeJS.ProcessEnv } {
  let text = readFileSync(examplesDir + name, 'utf8');
  const env = Object.fromEntries([...text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => [m[1], 'x'.repeat(40)]));
  const ca = join(dir, 'site-ca.pem');
  writeFileSync(ca, '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n');
  text = text.replace(/^(\s*caFile:).*$/gm, `$1 ${ca}`);
  return { path: write(text), env };
}

describe('passes config check ⇒ every configured factory accepts its options', () => {
  const examples = readdirSync(examplesDir).filter((f) => f.endsWith('.yaml'));
  it.each(examples)('example %s', async (name) => {
    const { path, env } = deployed(name);
    expect(configCheck(path, env).ok).toBe(true);
    await createAll(path, env);
  });

  const jwks = join(dir, 'jwks.json');
  writeFileSync(jwks, JSON.stringify({ keys: [{ kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo' }] }));
  const edges: [string, string][] = [
    ['the empty file (dummy, local)', ''],
    ['ldap with bind templates', LDAP_OK],
    ['ldap with lookupDn, search user, nested groups and a CA', `authenticator:\n  kind: ldap\n  ldap:\n    urls: [ldaps://127.0.0.1:1636]\n    tls: ldaps\n    caFile: ${jwks}\n    lookupDn: true\n    searchBase: dc=x\n    searchUserDn: cn=r,dc=x\n    searchUserPassword: pw\n    groupMembership: nested\n    searchFilter: "(&(objectClass=person)({userAttribute}={username}))"\n`],
    ['header with a JWKS file, servers elsewhere', `authenticator:\n  kind: header\n  header:\n    trustedProxies: [203.0.113.5]\n    jwt: { jwksFile: ${jwks}, issuer: portal, audience: atrium }\nspawner:\n  kind: swarm\n  swarm:\n    dockerUrl: http://127.0.0.1:2375\n`],
    ['the ldap-account hook with its required keys', HOOK_OK],
    ['swarm with a bare socket path', 'spawner:\n  kind: swarm\n  swarm:\n    dockerUrl: /var/run/docker.sock\n'],
  ];
  it.each(edges)('%s', async (_label, yaml) => {
    const path = write(yaml);
    const r = configCheck(path, {});
    expect(r.output).toMatch(/: ok\n/);
    await createAll(path);
  });
});
