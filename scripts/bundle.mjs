// Bundle the compiled hub/CLI (dist/cli.js) and the npm packages it loads at start into
// dist/bundle/ with esbuild (installed as a tsx dependency). Why: the hub imports ~950 module files
// at start (typebox, ajv, fastify, pino, prom-client, yaml...); resolving and compiling them one by
// one is most of the restart time. bin/atrium.js runs the bundle when it is newer than dist/cli.js,
// so a plain `npm run build` (tsc only) never leaves a stale bundle in use. Decision 0017.
// Run after tsc: node scripts/bundle.mjs  (scripts/setup does).
import { build } from 'esbuild';
import { existsSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
if (!existsSync(`${root}dist/cli.js`)) {
  console.error('bundle: dist/cli.js is missing; run `npx tsc -p tsconfig.json` first');
  process.exit(2);
}
const t0 = Date.now();
rmSync(`${root}dist/bundle`, { recursive: true, force: true });
await build({
  absWorkingDir: root,
  entryPoints: { cli: 'dist/cli.js' },
  outdir: 'dist/bundle',
  bundle: true,
  // Dynamic imports stay separate chunks: kinds a config does not use are still never loaded.
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  outExtension: { '.js': '.mjs' },
  logLevel: 'warning',
  // Whitespace and syntax minified, names kept (3.3 → 2.2 MB): V8 keeps every module's source for
  // lazy compilation, and with the heap sized for memory (decision 0022) that measured ~3.5 MB less
  // RSS, the same start CPU. Stack traces still name every function; line:column point into long
  // lines. (Decision 0017 had measured no gain, within that run's noise, without the V8 setting.)
  minifyWhitespace: true,
  minifySyntax: true,
  // Native addons, and big packages only some configs load (already imported lazily), stay in node_modules.
  external: ['better-sqlite3', 'node-pty', 'ssh2', 'cpu-features', 'playwright-core', 'dockerode', 'ldapts'],
  // CommonJS packages inside an ES module bundle still call require() for node built-ins.
  banner: { js: "import { createRequire as __atriumRequire } from 'node:module'; const require = __atriumRequire(import.meta.url);" },
});
console.log(`bundle: dist/bundle/cli.mjs in ${Date.now() - t0} ms`);
