import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderConfigDocs } from '../../../src/hub/config/docs.js';

describe('docs/config.md', () => {
  const generated = renderConfigDocs();

  it('is up to date with the schema', () => {
    const onDisk = readFileSync(new URL('../../../docs/config.md', import.meta.url), 'utf8');
    if (onDisk !== generated) {
      throw new Error('docs/config.md is stale: run npm run docs:config and commit the result');
    }
  });

  it('documents every key path with type, default and description', () => {
    expect(generated).toContain('## `authenticator`');
    expect(generated).toContain('### `authenticator.header`');
    expect(generated).toContain('| `userHeader` | string | `"Remote-User"` | Header that carries the user identity.');
    expect(generated).toContain('| `kind` | one of `"dummy"`, `"header"`, `"ldap"` | `"dummy"` |');
    expect(generated).toContain('| `issuer` | string | **required** |');
    expect(generated).toContain('### `hooks[]` (kind: ldap-account)');
  });
});
