import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configCheck } from '../../../src/hub/config/check.js';

const dir = mkdtempSync(join(tmpdir(), 'atrium-check-'));
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('configCheck', () => {
  it('says ok with a short summary', () => {
    const path = file('ok.yaml', 'authenticator:\n  kind: header\n  header:\n    trustedProxies: [203.0.113.5]\n');
    const r = configCheck(path, {});
    expect(r.ok).toBe(true);
    expect(r.output).toMatch(new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: ok\n  authenticator: header\n  spawner: local\n`));
  });

  it('lists every problem and counts them', () => {
    const path = file('bad.yaml', 'hub:\n  prot: 1\nlogLevel: loud\n');
    const r = configCheck(path, {});
    expect(r.ok).toBe(false);
    expect(r.output.split('\n')).toEqual([
      `${path}:2: hub.prot: unknown key (did you mean "port"?)`,
      `${path}:3: logLevel: must be one of "debug", "info", "warn", "error" (got "loud")`,
      `${path}: 2 problems`,
    ]);
  });

  it('reports a missing file', () => {
    const r = configCheck(join(dir, 'missing.yaml'), {});
    expect(r.ok).toBe(false);
    expect(r.output).toContain('cannot read the file (ENOENT)');
  });
});
