import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig, parseConfig } from '../../../src/hub/config/loader.js';

const dir = fileURLToPath(new URL('../../../config/', import.meta.url));
const examples = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
const work = mkdtempSync(join(tmpdir(), 'atrium-examples-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/**
 * An example as an admin would deploy it: every ${VAR} gets a plausible secret (long enough for
 * the JWT check), and a site file it names (the directory's CA, caFile) exists, since the check
 * refuses an unreadable one as the hub would at start.
 */
export function deployedExample(name: string): { path: string; env: NodeJS.ProcessEnv } {
  let text = readFileSync(dir + name, 'utf8');
  const env = Object.fromEntries([...text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => [m[1], 'x'.repeat(40)]));
  const ca = join(work, 'site-ca.pem');
  writeFileSync(ca, '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n');
  text = text.replace(/^(\s*caFile:).*$/gm, `$1 ${ca}`);
  const path = join(work, name);
  writeFileSync(path, text);
  return { path, env };
}

describe('config/*.yaml examples', () => {
  it('are there', () => {
    expect(examples).toEqual(expect.arrayContaining(['minimal.yaml', 'header-portal.yaml']));
  });

  it.each(examples)('%s is valid', (name) => {
    const { path, env } = deployedExample(name);
    expect(() => loadConfig(path, env)).not.toThrow();
  });

  it('minimal.yaml spells out exactly the embedded defaults', () => {
    expect(loadConfig(dir + 'minimal.yaml', {})).toEqual(parseConfig('', 'empty', {}));
  });
});
