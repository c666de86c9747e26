/**
 * `atrium config check` on a machine without the site's secrets or files (issue 10 item 11): every
 * example in config/ checks OK, a site file that is only an unset variable's default is a warning,
 * and everything else stays as strict as the hub's own start.
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { configCheck } from '../../../src/hub/config/check.js';
import { loadConfig } from '../../../src/hub/config/loader.js';

const examplesDir = fileURLToPath(new URL('../../../config/', import.meta.url));
const examples = readdirSync(examplesDir).filter((f) => f.endsWith('.yaml'));
const dir = mkdtempSync(join(tmpdir(), 'atrium-sitefiles-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const ldap = (caFile: string) => `authenticator:
  kind: ldap
  ldap:
    urls: [ldap://ldap.example.org]
    caFile: ${caFile}
    bindDnTemplates: ["uid={username},ou=people,dc=example,dc=org"]
`;
const missing = join(dir, 'no-such-ca.pem');

describe('config check without site secrets or files', () => {
  it.each(examples)('config/%s checks OK with an empty environment', (name) => {
    const r = configCheck(examplesDir + name, {});
    expect(r.output).not.toMatch(/problem/);
    expect(r.ok).toBe(true);
  });

  it('a missing file that is an unset variable\'s default is a warning naming the variable', () => {
    const path = file('default.yaml', ldap(`\${SITE_CA:-${missing}}`));
    const r = configCheck(path, {});
    expect(r.ok).toBe(true);
    expect(r.output).toMatch(/authenticator\.ldap\.caFile: cannot read the file \(ENOENT\); it is the default of \$\{SITE_CA\}, which is not set \(warning/);
    expect(r.output).toMatch(/ok, 1 warning/);
  });

  it('stays an error: with --strict, at hub start, when the variable is set, when the path is literal', () => {
    const path = file('default.yaml', ldap(`\${SITE_CA:-${missing}}`));
    expect(configCheck(path, {}, { strict: true }).ok).toBe(false);
    expect(() => loadConfig(path, {})).toThrow(/caFile: cannot read the file/);
    // The admin pointed the variable at a file that is not there: that is their mistake to see.
    const set = configCheck(path, { SITE_CA: missing });
    expect(set.ok).toBe(false);
    expect(set.output).toMatch(/caFile: cannot read the file \(ENOENT\)\n/);
    const literal = configCheck(file('literal.yaml', ldap(missing)), {});
    expect(literal.ok).toBe(false);
    expect(literal.output).toMatch(/caFile: cannot read the file/);
  });

  it('an unset variable\'s default that exists is simply used', () => {
    const ca = file('ca.pem', '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n');
    const r = configCheck(file('exists.yaml', ldap(`\${SITE_CA:-${ca}}`)), {});
    expect(r.ok).toBe(true);
    expect(r.output).not.toMatch(/warning/);
  });
});
