// Bundle the compiled hub/CLI (dist/cli.js) and the npm packages it loads at start into
// dist/bundle/cli.cjs with esbuild (installed as a tsx dependency). Why: the hub imports ~950 module files
// at start (typebox, ajv, fastify, pino, prom-client, yaml...); resolving and compiling them one by
// one is most of the restart time. bin/atrium.js runs the bundle when it is newer than dist/cli.js,
// so a plain `npm run build` (tsc only) never leaves a stale bundle in use. Decision 0017.
// Run after tsc: node scripts/bundle.mjs  (scripts/setup does).
import { build } from 'esbuild';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
if (!existsSync(`${root}dist/cli.js`)) {
  console.error('bundle: dist/cli.js is missing; run `npx tsc -p tsconfig.json` first');
  process.exit(2);
}
const t0 = Date.now();
// The config validator, generated now instead of at every hub start (decision 0025): it replaces
// tsc's placeholder (null) in dist/, and the bundle below takes it in. A later tsc-only build puts
// the placeholder back, and the hub then compiles the validator itself, as before.
const { standaloneValidatorSource } = await import(`${root}dist/hub/config/validator-build.js`);
writeFileSync(`${root}dist/hub/config/validator-standalone.js`, standaloneValidatorSource('./formats.js'));
rmSync(`${root}dist/bundle`, { recursive: true, force: true });
await build({
  absWorkingDir: root,
  entryPoints: ['dist/cli.js'],
  outfile: 'dist/bundle/cli.cjs',
  bundle: true,
  // One CommonJS file (decision 0025): bin/atrium.js compiles it with V8's code cache, which
  // Node 20 offers for scripts but not for ES modules. Dynamic import()s become lazy requires:
  // a kind the config does not use is parsed with the file but its module code never runs.
  format: 'cjs',
  // import() of anything left outside the bundle (node: built-ins, externals) becomes a require:
  // functions restored from V8's code cache lose vm.Script's dynamic-import callback, so an
  // import() there throws ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING (checked below).
  supported: { 'dynamic-import': false },
  platform: 'node',
  target: 'node20',
  logLevel: 'warning',
  // Whitespace and syntax minified, names kept (about a third smaller): V8 keeps every module's source for
  // lazy compilation, and with the heap sized for memory (decision 0022) that measured ~3.5 MB less
  // RSS, the same start CPU. Stack traces still name every function; line:column point into long
  // lines. (Decision 0017 had measured no gain, within that run's noise, without the V8 setting.)
  minifyWhitespace: true,
  minifySyntax: true,
  // Native addons, and big packages only some configs load (already imported lazily), stay in node_modules.
  external: ['better-sqlite3', 'node-pty', 'ssh2', 'cpu-features', 'playwright-core', 'dockerode', 'ldapts'],
  // Our modules find files next to them with import.meta.url (dist/hub/x.js and dist/bundle/cli.cjs
  // are at the same depth, so '../../bin' means the same directory from both).
  define: { 'import.meta.url': '__atriumModuleUrl' },
  // Licence comments go to cli.cjs.LEGAL.txt: kept, and the bundle stays pure ASCII (below).
  legalComments: 'external',
  banner: { js: "const __atriumModuleUrl = require('node:url').pathToFileURL(__filename).href;" },
});
const out = readFileSync(`${root}dist/bundle/cli.cjs`);
if (/\bimport\(/.test(out.toString('latin1'))) {
  console.error('bundle: dist/bundle/cli.cjs still contains import(); it would fail when run from the code cache (decision 0025)');
  process.exit(1);
}
// One non-ASCII character would make V8 hold the whole 3 MB source as a two-byte string (6 MB),
// and bin/atrium.js reads the bundle as latin1 (a plain copy, ~7 ms less than decoding UTF-8 at
// every start), which is only right for ASCII. esbuild escapes them except inside template literals.
const wide = out.findIndex((b) => b > 0x7f);
if (wide >= 0) {
  console.error(`bundle: non-ASCII text at byte ${wide} of dist/bundle/cli.cjs (${JSON.stringify(out.subarray(Math.max(0, wide - 40), wide + 20).toString())}); write it as an escape (\\uXXXX)`);
  process.exit(1);
}
console.log(`bundle: dist/bundle/cli.cjs in ${Date.now() - t0} ms`);
