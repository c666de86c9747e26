#!/usr/bin/env node
// Thin launcher: the proxy is TypeScript compiled to dist/ by `npm run build`. CommonJS, as
// bin/atrium.js (bin/package.json): the ES-module entry is imported from here.
'use strict';
const { existsSync } = require('node:fs');
const { join } = require('node:path');
const { pathToFileURL } = require('node:url');

const entry = join(__dirname, '../dist/proxy/main.js');
if (!existsSync(entry)) {
  process.stderr.write('atrium-proxy: dist/proxy/main.js not found; run `npm run build` first.\n');
  process.exit(1);
}
import(pathToFileURL(entry).href);
