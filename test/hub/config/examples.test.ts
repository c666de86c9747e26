import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadConfig, parseConfig } from '../../../src/hub/config/loader.js';

const dir = fileURLToPath(new URL('../../../config/', import.meta.url));
const examples = readdirSync(dir).filter((f) => f.endsWith('.yaml'));

describe('config/*.yaml examples', () => {
  it('are there', () => {
    expect(examples).toEqual(expect.arrayContaining(['minimal.yaml', 'header-portal.yaml']));
  });

  it.each(examples)('%s is valid', (name) => {
    const text = readFileSync(dir + name, 'utf8');
    // Every ${VAR} the example uses gets a plausible secret (long enough for the JWT check).
    const env = Object.fromEntries([...text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => [m[1], 'x'.repeat(40)]));
    expect(() => loadConfig(dir + name, env)).not.toThrow();
  });

  it('minimal.yaml spells out exactly the embedded defaults', () => {
    expect(loadConfig(dir + 'minimal.yaml', {})).toEqual(parseConfig('', 'empty', {}));
  });
});
