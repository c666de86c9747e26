#!/usr/bin/env -S node --max-semi-space-size=1
// Thin launcher: the compiled CLI lives in dist/ (npm run build).
// --max-semi-space-size=1: a young generation of 1 MB instead of up to 16 MB per semi-space keeps
// the hub's resident memory ~25 MB lower (bench/burst/restart.mjs); scavenges get more frequent
// but stay cheap. The systemd unit passes the same flag; NODE_OPTIONS can override it.
// dist/bundle/cli.mjs (node scripts/bundle.mjs, run by scripts/setup) starts faster; it is used
// only when it is at least as new as dist/cli.js, so a later tsc-only build is never shadowed by a
// stale bundle. ATRIUM_NO_BUNDLE=1 forces the unbundled files (decision 0017).
import { existsSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';

// The hub runs with V8's --optimize-for-size unless ATRIUM_HUB_V8_FLAGS says otherwise (empty:
// V8's defaults). V8 reads this flag each time it sizes the heap, so setting it here works however
// node was started (systemd unit, container, `node bin/atrium.js`); measured: ~20 MB less RSS
// after a restart with 10,000 users and 1,000 servers, the same CPU to start (decision 0022).
if (process.argv[2] === 'hub') {
  const v8Flags = process.env.ATRIUM_HUB_V8_FLAGS ?? '--optimize-for-size';
  if (v8Flags.trim()) setFlagsFromString(v8Flags);
}

const entry = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const bundle = fileURLToPath(new URL('../dist/bundle/cli.mjs', import.meta.url));
if (!existsSync(entry)) {
  process.stderr.write('atrium: dist/cli.js is missing; run "npm run build" first\n');
  process.exit(2);
}
const useBundle = process.env.ATRIUM_NO_BUNDLE !== '1' && existsSync(bundle) && statSync(bundle).mtimeMs >= statSync(entry).mtimeMs;
await import(useBundle ? bundle : entry);
