/**
 * Placeholder for the config validator generated at build time. `node scripts/bundle.mjs`
 * overwrites the compiled copy of this file (dist/hub/config/validator-standalone.js) with ajv's
 * standalone code for the current schema, so a hub start does not generate and compile the
 * validator (~30% of the CPU of a start, decision 0025). Here, and wherever the build step did not
 * run (tests under tsx, a tsc-only build), it is null and validate.ts compiles the schema itself.
 */
import type { ValidateFunction } from 'ajv';

export const standalone: { schemaHash: string; validate: ValidateFunction } | null = null;
