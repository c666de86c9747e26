#!/usr/bin/env -S node --max-semi-space-size=1
// Thin launcher: the compiled CLI lives in dist/ (npm run build).
// --max-semi-space-size=1: a young generation of 1 MB instead of up to 16 MB per semi-space keeps
// the hub's resident memory ~25 MB lower (bench/burst/restart.mjs); scavenges get more frequent
// but stay cheap. The systemd unit passes the same flag; NODE_OPTIONS can override it.
// dist/bundle/cli.cjs (node scripts/bundle.mjs, run by scripts/setup) starts faster; it is used
// only when it is at least as new as dist/cli.js, so a later tsc-only build is never shadowed by a
// stale bundle. ATRIUM_NO_BUNDLE=1 forces the unbundled files (decisions 0017, 0025).
// CommonJS (bin/package.json): a CommonJS main script starts without node's ES-module loader
// (`atrium --version` 273 vs 285 ms median with farm-bench; decision 0029).
'use strict';
const { chmodSync, existsSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } = require('node:fs');
const { createRequire } = require('node:module');
const { dirname, join } = require('node:path');
const { pathToFileURL } = require('node:url');
const { setFlagsFromString } = require('node:v8');
const { Script, constants: vmConstants } = require('node:vm');

// The hub runs with V8's --optimize-for-size unless ATRIUM_HUB_V8_FLAGS says otherwise (empty:
// V8's defaults). V8 reads this flag each time it sizes the heap, so setting it here works however
// node was started (systemd unit, container, `node bin/atrium.js`); measured: ~20 MB less RSS
// after a restart with 10,000 users and 1,000 servers, the same CPU to start (decision 0022).
const isHub = process.argv[2] === 'hub';
if (isHub) {
  const v8Flags = process.env.ATRIUM_HUB_V8_FLAGS ?? '--optimize-for-size';
  if (v8Flags.trim()) setFlagsFromString(v8Flags);
}

const entry = join(__dirname, '../dist/cli.js');
const bundle = join(__dirname, '../dist/bundle/cli.cjs');
if (!existsSync(entry)) {
  process.stderr.write('atrium: dist/cli.js is missing; run "npm run build" first\n');
  process.exit(2);
}
const useBundle = process.env.ATRIUM_NO_BUNDLE !== '1' && existsSync(bundle) && statSync(bundle).mtimeMs >= statSync(entry).mtimeMs;
if (useBundle) runBundle(bundle, isHub);
else import(pathToFileURL(entry).href);

/**
 * Run the CommonJS bundle like require() would, but compiled with V8's code cache (decision 0025):
 * a hub start then skips parsing and compiling the code its start runs (~0.3 s of CPU). The cache
 * sits next to the bundle as cli.cjs.hub-cache and is trusted like the code itself: used only when
 * owned by root or by this user and writable by nobody else. V8 checks it against the source and
 * its own version and flags, and refuses a cache that does not match (we then compile as usual).
 * When there is none, or V8 refused it, the hub writes a new one once it has started (the event
 * from src/cli.ts), if the directory is writable; a read-only install just starts without it.
 */
function runBundle(file, withCache) {
  // latin1: the bundle is pure ASCII (scripts/bundle.mjs refuses anything else), and a plain
  // byte copy is cheaper than decoding 3 MB of UTF-8.
  const source = readFileSync(file, 'latin1');
  const cacheFile = `${file}.hub-cache`;
  const cachedData = withCache ? trustedCache(cacheFile) : undefined;
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: file,
    cachedData,
    // The bundle keeps import() only for node: built-ins; resolve them as the main program would.
    importModuleDynamically: vmConstants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  if (withCache && (!cachedData || script.cachedDataRejected)) {
    process.once('atrium:hub-started', () => setImmediate(() => saveCache(script, cacheFile)));
  }
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(file), module, file, dirname(file));
}

function trustedCache(path) {
  try {
    const st = statSync(path);
    const owner = st.uid === 0 || st.uid === process.geteuid?.();
    return owner && (st.mode & 0o022) === 0 && st.isFile() ? readFileSync(path) : undefined;
  } catch {
    return undefined;
  }
}

function saveCache(script, path) {
  const tmp = `${path}.${process.pid}`;
  try {
    writeFileSync(tmp, script.createCachedData(), { mode: 0o644, flag: 'wx' });
    chmodSync(tmp, 0o644); // whatever the umask: as readable as the bundle, writable by its owner only
    renameSync(tmp, path);
  } catch {
    rmSync(tmp, { force: true });
  }
}
