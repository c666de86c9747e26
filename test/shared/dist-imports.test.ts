/**
 * Every built module loads under Node's real ESM loader. vitest (and tsx) rewrite imports, so a
 * named import that Node cannot resolve from a CommonJS package (`import { utils } from 'ssh2'`:
 * cjs-module-lexer does not see `utils`) passes every in-process test and still stops the real
 * hub at start, or a kind at its first use. This found exactly that after a module moved into the
 * hub's static import graph. dist/ is built by scripts/setup (tsc) before the suite runs.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const dist = join(repo, 'dist');
// Entry points run their program on import.
const ENTRY_POINTS = ['cli.js', 'proxy/main.js'];

function builtModules(dir: string): string[] {
  const out: string[] = [];
  for (const n of readdirSync(dir)) {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) {
      if (n !== 'bundle') out.push(...builtModules(p));
    } else if (p.endsWith('.js')) out.push(relative(dist, p));
  }
  return out;
}

describe('dist/ under the real Node ESM loader', () => {
  it('imports every module whose source exists', () => {
    const all = builtModules(dist);
    // A dist file left from a deleted source is not part of the product.
    const stale = all.filter((rel) => !existsSync(join(repo, 'src', rel.replace(/\.js$/, '.ts'))));
    const out = execFileSync(process.execPath, [join(repo, 'test/fixtures/import-all.mjs'), dist, ...ENTRY_POINTS, ...stale], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    const res = JSON.parse(out.trim().split('\n').pop()!) as { files: number; bad: string[] };
    expect(res.files).toBeGreaterThan(200);
    expect(res.bad).toEqual([]);
  }, 90_000);
});
