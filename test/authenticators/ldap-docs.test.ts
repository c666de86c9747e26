// Every YAML example in docs/ldap.md must load through the real config loader, and build a
// working authenticator / hook object: copy-paste configs that fail would be worse than none.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { parseConfig } from '../../src/hub/config/loader.js';
import { ldapAuthenticatorKind } from '../../src/authenticators/ldap/index.js';
import { ldapAccountHookKind } from '../../src/hooks/ldap-account/index.js';

const doc = readFileSync(new URL('../../docs/ldap.md', import.meta.url), 'utf8');
const blocks = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
const env = { ATRIUM_LDAP_READER_PASSWORD: 'x', ATRIUM_AD_PASSWORD: 'x', ATRIUM_LDAP_ACCOUNTS_PASSWORD: 'x' };
const log = pino({ level: 'silent' });
// caFile paths in the docs name a site's CA; config check (rightly) refuses an unreadable one,
// so each example gets a readable stand-in and is otherwise loaded and constructed as written.
const ca = join(mkdtempSync(join(tmpdir(), 'atrium-ldap-docs-')), 'ca.pem');
writeFileSync(ca, '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n');
const deployed = (yaml: string) => yaml.replace(/^(\s*caFile:).*$/gm, `$1 ${ca}`);

describe('docs/ldap.md examples', () => {
  it('has examples', () => expect(blocks.length).toBeGreaterThanOrEqual(6));

  blocks.forEach((yaml, i) => {
    it(`example ${i + 1} loads and constructs`, () => {
      const config = parseConfig(deployed(yaml), `docs/ldap.md#${i + 1}`, env);
      if (yaml.includes('kind: ldap\n')) {
        expect(config.authenticator.kind).toBe('ldap');
        expect(() => ldapAuthenticatorKind.create({ options: config.authenticator.ldap, log })).not.toThrow();
      }
      for (const hook of config.hooks) {
        expect(hook.kind).toBe('ldap-account');
        const options = (hook as unknown as { ldapAccount: Parameters<typeof ldapAccountHookKind.create>[0]['options'] }).ldapAccount;
        expect(() => ldapAccountHookKind.create({ options, log })).not.toThrow();
      }
    });
  });
});
