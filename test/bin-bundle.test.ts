// bin/atrium.js picks dist/bundle/cli.cjs only when it is at least as new as dist/cli.js, and
// never with ATRIUM_NO_BUNDLE=1 (decision 0017); for `hub` it compiles the bundle with V8's code
// cache and saves one once the hub has started (decision 0025). The real launcher runs in a
// scratch copy of the layout whose entry points only say which one ran, so the shared dist/ is
// never touched.
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = mkdtempSync(join(tmpdir(), 'atrium-bin-'));
mkdirSync(join(root, 'bin'));
mkdirSync(join(root, 'dist/bundle'), { recursive: true });
copyFileSync(new URL('../bin/atrium.js', import.meta.url), join(root, 'bin/atrium.js'));
copyFileSync(new URL('../bin/package.json', import.meta.url), join(root, 'bin/package.json'));
writeFileSync(join(root, 'package.json'), '{"type":"module"}');
writeFileSync(join(root, 'dist/cli.js'), "process.stdout.write('unbundled');");
// CommonJS like the real bundle; as `hub` it announces a started hub as src/cli.ts does.
const BUNDLE = `const who = require('node:path').basename(__filename);
process.stdout.write('bundle ' + who);
if (process.argv[2] === 'hub') process.emit('atrium:hub-started');`;
writeFileSync(join(root, 'dist/bundle/cli.cjs'), BUNDLE);
afterAll(() => rmSync(root, { recursive: true, force: true }));

const run = (env: NodeJS.ProcessEnv = {}, args: string[] = []) =>
  execFileSync(process.execPath, [join(root, 'bin/atrium.js'), ...args], { env: { ...process.env, ATRIUM_NO_BUNDLE: '', ...env }, encoding: 'utf8' });
const age = (rel: string, secondsAgo: number) => {
  const t = new Date(Date.now() - secondsAgo * 1000);
  utimesSync(join(root, rel), t, t);
};

describe('bin/atrium.js and the bundle', () => {
  it('runs the bundle when it is newer than dist/cli.js', () => {
    age('dist/cli.js', 60);
    age('dist/bundle/cli.cjs', 10);
    expect(run()).toBe('bundle cli.cjs');
  });

  it('runs dist/cli.js when the bundle is older (a tsc build after the bundle)', () => {
    age('dist/cli.js', 10);
    age('dist/bundle/cli.cjs', 60);
    expect(run()).toBe('unbundled');
  });

  it('ATRIUM_NO_BUNDLE=1 forces dist/cli.js', () => {
    age('dist/cli.js', 60);
    age('dist/bundle/cli.cjs', 10);
    expect(run({ ATRIUM_NO_BUNDLE: '1' })).toBe('unbundled');
  });

  describe('code cache (hub only)', () => {
    const cache = join(root, 'dist/bundle/cli.cjs.hub-cache');
    const hub = () => run({}, ['hub']);
    const ino = () => statSync(cache).ino;

    it('is saved once a hub has started, readable by all, writable only by its owner', () => {
      age('dist/cli.js', 60);
      age('dist/bundle/cli.cjs', 10);
      rmSync(cache, { force: true });
      expect(run()).toBe('bundle cli.cjs');
      expect(existsSync(cache)).toBe(false); // not for other commands
      expect(hub()).toBe('bundle cli.cjs');
      expect(existsSync(cache)).toBe(true);
      expect(statSync(cache).mode & 0o777).toBe(0o644);
    });

    it('is used as it is when V8 accepts it (not written again)', () => {
      const before = ino();
      expect(hub()).toBe('bundle cli.cjs');
      expect(ino()).toBe(before);
    });

    it('a cache V8 refuses (damaged) is replaced, and the hub still runs', () => {
      writeFileSync(cache, Buffer.alloc(4096, 7), { mode: 0o644 });
      const before = ino();
      expect(hub()).toBe('bundle cli.cjs');
      expect(ino()).not.toBe(before);
      const again = ino();
      expect(hub()).toBe('bundle cli.cjs');
      expect(ino()).toBe(again);
    });

    it('a cache others may write is not trusted: never read, replaced by a private one', () => {
      chmodSync(cache, 0o666);
      const before = ino();
      expect(hub()).toBe('bundle cli.cjs');
      expect(ino()).not.toBe(before);
      expect(statSync(cache).mode & 0o777).toBe(0o644);
    });
  });

  it('runs dist/cli.js when there is no bundle (a fresh clone after npm run build)', () => {
    rmSync(join(root, 'dist/bundle'), { recursive: true });
    expect(run()).toBe('unbundled');
  });
});
