// bin/atrium.js picks dist/bundle/cli.mjs only when it is at least as new as dist/cli.js, and
// never with ATRIUM_NO_BUNDLE=1 (decision 0017). The real launcher runs in a scratch copy of the
// layout whose two entry points only say which one ran, so the shared dist/ is never touched.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = mkdtempSync(join(tmpdir(), 'atrium-bin-'));
mkdirSync(join(root, 'bin'));
mkdirSync(join(root, 'dist/bundle'), { recursive: true });
copyFileSync(new URL('../bin/atrium.js', import.meta.url), join(root, 'bin/atrium.js'));
writeFileSync(join(root, 'package.json'), '{"type":"module"}');
writeFileSync(join(root, 'dist/cli.js'), "process.stdout.write('unbundled');");
writeFileSync(join(root, 'dist/bundle/cli.mjs'), "process.stdout.write('bundle');");
afterAll(() => rmSync(root, { recursive: true, force: true }));

const run = (env: NodeJS.ProcessEnv = {}) =>
  execFileSync(process.execPath, [join(root, 'bin/atrium.js')], { env: { ...process.env, ATRIUM_NO_BUNDLE: '', ...env }, encoding: 'utf8' });
const age = (rel: string, secondsAgo: number) => {
  const t = new Date(Date.now() - secondsAgo * 1000);
  utimesSync(join(root, rel), t, t);
};

describe('bin/atrium.js and the bundle', () => {
  it('runs the bundle when it is newer than dist/cli.js', () => {
    age('dist/cli.js', 60);
    age('dist/bundle/cli.mjs', 10);
    expect(run()).toBe('bundle');
  });

  it('runs dist/cli.js when the bundle is older (a tsc build after the bundle)', () => {
    age('dist/cli.js', 10);
    age('dist/bundle/cli.mjs', 60);
    expect(run()).toBe('unbundled');
  });

  it('ATRIUM_NO_BUNDLE=1 forces dist/cli.js', () => {
    age('dist/cli.js', 60);
    age('dist/bundle/cli.mjs', 10);
    expect(run({ ATRIUM_NO_BUNDLE: '1' })).toBe('unbundled');
  });

  it('runs dist/cli.js when there is no bundle (a fresh clone after npm run build)', () => {
    rmSync(join(root, 'dist/bundle'), { recursive: true });
    expect(run()).toBe('unbundled');
  });
});
