import { readFileSync } from 'node:fs';

/** Atrium's own version, from package.json: one level up from dist/version.js, two from the
 * esbuild bundle in dist/bundle/ (scripts/bundle.mjs). */
export const VERSION: string = (() => {
  for (const rel of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version: string };
      if (pkg.name === 'atrium') return pkg.version;
    } catch {
      // not at this level
    }
  }
  return '0.0.0';
})();
