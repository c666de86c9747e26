/** The array spec rules, the pending-range expansion of the poller and the per-task file names. */
import { describe, expect, it } from 'vitest';
import { arrayState, parseArraySpec, scriptArraySpec, taskPath } from '../../../src/hub/jobs/array.js';
import { expandArrayRange, parseSqueue } from '../../../src/spawners/slurm/poller.js';

describe('array specs', () => {
  it('parses ids, ranges, steps and the %N limit', () => {
    expect(parseArraySpec('0-9%2', 100)).toEqual({ spec: '0-9%2', tasks: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], limit: 2 });
    expect(parseArraySpec('1,3,5-7', 100).tasks).toEqual([1, 3, 5, 6, 7]);
    expect(parseArraySpec('0-15:4', 100).tasks).toEqual([0, 4, 8, 12]);
    expect(parseArraySpec('2,2,1', 100).tasks).toEqual([1, 2]);
  });

  it('refuses what sbatch would misread or what is too big, with a 400 naming the problem', () => {
    for (const [spec, re] of [['', /not an array spec/], ['0-3%0', /at least 1/], ['9-1', /backwards/], ['0-5:0', /step/], ['a-b', /not an array spec/], ['0-3 ; rm -rf ~', /not an array spec/], ['0-1000', /more than 100 tasks/]] as const) {
      let err: unknown;
      try {
        parseArraySpec(spec, 100);
      } catch (e) {
        err = e;
      }
      expect(err, spec).toMatchObject({ code: 'ATRIUM_ERR_JOB_ARRAY_SPEC', statusCode: 400, message: expect.stringMatching(re) });
    }
  });

  it('finds #SBATCH --array / -a among the leading directives only', () => {
    expect(scriptArraySpec('#!/bin/bash\n#SBATCH --time=5\n#SBATCH --array=0-3\necho\n')).toBe('0-3');
    expect(scriptArraySpec('#!/bin/bash\n# comment\n#SBATCH -a 1,2\n')).toBe('1,2');
    expect(scriptArraySpec('#!/bin/bash\necho hi\n#SBATCH --array=0-3\n')).toBeNull();
  });

  it('derives the array state from its tasks', () => {
    expect(arrayState({ 0: { state: 'RUNNING' }, 1: { state: 'PENDING' } })).toBe('RUNNING');
    expect(arrayState({ 0: { state: 'COMPLETED', exit: '0:0' }, 1: { state: 'PENDING' } })).toBe('PENDING');
    expect(arrayState({ 0: { state: 'COMPLETED', exit: '0:0' }, 1: { state: 'COMPLETED', exit: '1:0' } })).toBe('FAILED');
    expect(arrayState({ 0: { state: 'COMPLETED', exit: '0:0' }, 1: { state: 'CANCELLED' } })).toBe('PARTLY_CANCELLED');
    expect(arrayState({ 0: { state: 'COMPLETED', exit: '0:0' } })).toBe('COMPLETED');
  });

  it('names each task\'s file from the path Slurm resolved for the array', () => {
    expect(taskPath('/h/slurm-1234_4294967294.out', '1234', 3)).toBe('/h/slurm-1234_3.out');
    expect(taskPath('/h/out-%A_%a.txt', '1234', 7)).toBe('/h/out-1234_7.txt');
    expect(taskPath('/h/slurm-1234_0.out', '1234', 5)).toBe('/h/slurm-1234_5.out');
    expect(taskPath(null, '1234', 1)).toBeNull();
  });
});

describe('the poller and array ids', () => {
  it('expands a pending range squeue prints without -r into one entry per task', () => {
    expect(expandArrayRange('1234_[3-9%2]')).toEqual(['1234_3', '1234_4', '1234_5', '1234_6', '1234_7', '1234_8', '1234_9']);
    expect(expandArrayRange('1234_[1,4-5]')).toEqual(['1234_1', '1234_4', '1234_5']);
    expect(expandArrayRange('1234_3')).toBeNull();
    const jobs = parseSqueue('1234_0|RUNNING|None|n1|2026-01-01T00:00:00|N/A|0:05|9:55\n1234_[1-2%1]|PENDING|JobArrayTaskLimit||N/A|N/A|0:00|10:00\n');
    expect([...jobs.keys()]).toEqual(['1234_0', '1234_1', '1234_2']);
    expect(jobs.get('1234_2')).toMatchObject({ id: '1234_2', state: 'PENDING', reason: 'JobArrayTaskLimit' });
  });
});
