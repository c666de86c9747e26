import { describe, expect, it } from 'vitest';
import { DURATION_PATTERN, SIZE_PATTERN, formatSize, parseDuration, parseSize } from '../../src/shared/units.js';

describe('parseSize', () => {
  it.each([
    ['1024', 1024],
    ['0', 0],
    ['512K', 512 * 1024],
    ['2G', 2 * 1024 ** 3],
    ['2g', 2 * 1024 ** 3],
    ['2GB', 2 * 1024 ** 3],
    ['2GiB', 2 * 1024 ** 3],
    ['1.5M', 1.5 * 1024 ** 2],
    ['100MiB', 100 * 1024 ** 2],
    ['1T', 1024 ** 4],
    ['10b', 10],
    [' 3 G ', 3 * 1024 ** 3],
  ] as const)('%s', (text, bytes) => {
    expect(parseSize(text)).toBe(bytes);
    expect(new RegExp(SIZE_PATTERN).test(text)).toBe(true);
  });
  it('passes numbers through', () => expect(parseSize(4096)).toBe(4096));
  it.each([['1.5Gi', 1.5 * 1024 ** 3], ['2Mb', 2 * 1024 ** 2]] as const)('accepts %s (Docker and Kubernetes spellings)', (text, bytes) => {
    expect(parseSize(text)).toBe(bytes);
  });
  it('reads a plain number in the unit the caller names (Slurm: megabytes)', () => {
    expect(parseSize('2048', { plainUnit: 'm' })).toBe(2048 * 1024 ** 2);
    expect(parseSize(512, { plainUnit: 'm' })).toBe(512 * 1024 ** 2);
    expect(parseSize('4G', { plainUnit: 'm' })).toBe(4 * 1024 ** 3);
  });
  it('formats exact multiples with the largest unit', () => {
    expect(formatSize(2 * 1024 ** 3)).toBe('2G');
    expect(formatSize(1536 * 1024 ** 2)).toBe('1536M');
    expect(formatSize(1000)).toBe('1000');
  });
  it.each(['', 'G', '2X', '-1G', '2 GG', '1e9', 'two'])('rejects %j', (text) => {
    expect(() => parseSize(text)).toThrow(/invalid size/);
    expect(new RegExp(SIZE_PATTERN).test(text)).toBe(false);
  });
  it('rejects negative numbers', () => expect(() => parseSize(-1)).toThrow());
});

describe('parseDuration', () => {
  it.each([
    ['90', 90],
    ['90s', 90],
    ['5m', 300],
    ['1h', 3600],
    ['1.5h', 5400],
    ['2d', 172800],
    ['250ms', 0.25],
  ] as const)('%s', (text, seconds) => {
    expect(parseDuration(text)).toBe(seconds);
    expect(new RegExp(DURATION_PATTERN).test(text)).toBe(true);
  });
  it.each(['', 'm', '5x', '-5s', '1h30m', 'soon'])('rejects %j', (text) => {
    expect(() => parseDuration(text)).toThrow(/invalid duration/);
  });
  it('passes numbers through', () => expect(parseDuration(12)).toBe(12));
});
