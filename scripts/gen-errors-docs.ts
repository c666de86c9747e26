/** Regenerate docs/errors.md from the error catalogue: `node --import tsx scripts/gen-errors-docs.ts`. */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderErrorDocs } from '../src/shared/error-docs.js';

const target = fileURLToPath(new URL('../docs/errors.md', import.meta.url));
writeFileSync(target, renderErrorDocs());
console.log(`wrote ${target}`);
