#!/usr/bin/env node
// Thin launcher: the proxy is TypeScript compiled to dist/ by `npm run build`.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/proxy/main.js', import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  process.stderr.write('atrium-proxy: dist/proxy/main.js not found; run `npm run build` first.\n');
  process.exit(1);
}
await import(entry.href);
