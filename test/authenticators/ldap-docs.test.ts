// Every YAML example in docs/ldap.md must load through the real config loader, and build a
// working authenticator / hook object: copy-paste configs that fail would be worse than none.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { parseConfig } from '../../src/hub/config/loader.js';
import { ldapAuthenticatorKind } from '../../src/authenticators/ldap/index.js';
import { ldapAccountHookKind } from '../../src/hooks/ldap-account/index.js';

const doc = readFileSync(new URL('../../docs/ldap.md', import.meta.url), 'utf8');
const blocks = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
const env = { ATRIUM_LDAP_READER_PASSWORD: 'x', ATRIUM_AD_PASSWORD: 'x', ATRIUM_LDAP_ACCOUNTS_PASSWORD: 'x' };
const log = pino({ level: 'silent' });

describe('docs/ldap.md examples', () => {
  it('has examples', () => expect(blocks.length).toBeGreaterThanOrEqual(6));

  blocks.forEach((yaml, i) => {
    it(`example ${i + 1} loads and constructs`, () => {
      const config = parseConfig(yaml, `docs/ldap.md#${i + 1}`, env);
      if (yaml.includes('kind: ldap\n')) {
        expect(config.authenticator.kind).toBe('ldap');
        // caFile paths in the docs do not exist here; the rest of the construction must pass.
        expect(() => ldapAuthenticatorKind.create({ options: { ...config.authenticator.ldap, caFile: undefined }, log })).not.toThrow();
      }
      for (const hook of config.hooks) {
        expect(hook.kind).toBe('ldap-account');
        expect(() => ldapAccountHookKind.create({ options: { ...hook.ldapAccount, caFile: undefined }, log })).not.toThrow();
      }
    });
  });
});
