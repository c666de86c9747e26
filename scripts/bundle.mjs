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
  // Not minified: measured, minifying (3.2 → 2.4 MB) changed neither RSS nor start time, and
  // readable stack traces matter more (decision 0017).
  // Native addons, and big packages only some configs load (already imported lazily), stay in node_modules.
  external: ['better-sqlite3', 'node-pty', 'ssh2', 'cpu-features', 'playwright-core', 'dockerode', 'ldapts'],
  // CommonJS packages inside an ES module bundle still call require() for node built-ins.
  banner: { js: "import { createRequire as __atriumRequire } from 'node:module'; const require = __atriumRequire(import.meta.url);" },
});
console.log(`bundle: dist/bundle/cli.mjs in ${Date.now() - t0} ms`);
