// The hub compiles its config schema with ajv's meta-schema check off (it cost ~60 ms of every
// start, decision 0017); this test is where that check happens instead.
import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { AtriumConfigSchema } from '../../../src/hub/config/schema.js';

describe('config schema', () => {
  it('is a valid JSON Schema (the check the hub skips at start)', () => {
    const ajv = new Ajv({ strict: false });
    const ok = ajv.validateSchema(AtriumConfigSchema);
    expect(ajv.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
  });

  it('the same check rejects a broken schema (so the test above can fail)', () => {
    const ajv = new Ajv({ strict: false });
    expect(ajv.validateSchema({ ...AtriumConfigSchema, type: 'no-such-type' })).toBe(false);
  });
});
