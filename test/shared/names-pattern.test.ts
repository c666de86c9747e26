/**
 * The home page's server-name field: browsers compile a `pattern` attribute as
 * `^(?:PATTERN)$` with the `v` flag (an invalid one is a console error and no check at all), so
 * the attribute must compile that way and accept exactly what the server-side rule accepts.
 */
import { describe, expect, it } from 'vitest';
import { isValidServerName, SERVER_NAME_HTML_PATTERN, SERVER_NAME_MAX } from '../../src/shared/names.js';

describe('SERVER_NAME_HTML_PATTERN', () => {
  const browser = new RegExp(`^(?:${SERVER_NAME_HTML_PATTERN})$`, 'v');
  const samples = ['gpu-1', 'a', 'a1', 'ab-cd-ef', 'x'.repeat(SERVER_NAME_MAX), '1a', '-a', 'a-', 'a--b', 'A', 'a_b', 'a.b', '..', '', 'é', 'a b', 'gpu-2x'];

  it('compiles with the v flag and agrees with the server rule (length aside: maxlength covers it)', () => {
    for (const s of samples) {
      const withinLength = s.length <= SERVER_NAME_MAX;
      expect(browser.test(s) && withinLength, JSON.stringify(s)).toBe(isValidServerName(s));
    }
  });
});
