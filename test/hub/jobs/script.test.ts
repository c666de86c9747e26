/**
 * Portal job templates and config rules without a cluster: field validation, shell quoting, the
 * admin variables a user can never replace, the config check, and the jobs scopes of the roles.
 * (Submitting these scripts to a real Slurm is portal.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/hub/config/loader.js';
import { fromScript, fromTemplate } from '../../../src/hub/jobs/script.js';
import type { JobsConfig } from '../../../src/hub/jobs/config.js';
import { expandScopes, checkScopes, ROLES } from '../../../src/hub/auth/scopes.js';
import { hasCode } from '../../../src/shared/errors.js';

const tpl = {
  name: 'run',
  title: 'Run',
  description: '',
  fields: [
    { name: 'n', label: 'N', type: 'number' as const, min: 1, max: 4, default: 1, pattern: '', choices: [] },
    { name: 'arg', label: 'Arg', type: 'text' as const, pattern: "^[A-Za-z0-9 ;'$()/-]{1,40}$", choices: [] },
  ],
  script: '#!/bin/bash\n# {username} in {homedir}\nrun --n {n} --arg {arg} ${HOME} {unknown}\n',
};
const cfg = { enabled: true, customScripts: true, templates: [tpl], maxScriptBytes: 1024, outputMaxBytes: 4096, historyLimit: 10, maxArrayTasks: 100 } as JobsConfig;
const admin = { username: 'alice', homedir: '/home/alice dir' };

function refused(fn: () => unknown, msg: RegExp): void {
  try {
    fn();
  } catch (err) {
    expect(hasCode(err, 'ATRIUM_ERR_JOB_BAD_REQUEST')).toBe(true);
    expect((err as Error).message).toMatch(msg);
    return;
  }
  throw new Error('expected a refusal');
}

describe('job templates', () => {
  it('fills validated, shell-quoted values; unknown {words} and ${shell} stay; admin variables come from the hub', () => {
    const r = fromTemplate(cfg, tpl, { n: '3', arg: "x'; rm -rf / $(id)" }, admin);
    expect(r.script).toBe("#!/bin/bash\n# alice in '/home/alice dir'\nrun --n 3 --arg 'x'\\''; rm -rf / $(id)' ${HOME} {unknown}\n");
    expect(r.params).toEqual({ n: 3, arg: "x'; rm -rf / $(id)" });
  });

  it('refuses values outside the limits, non-numbers, unknown fields and the admin variables', () => {
    refused(() => fromTemplate(cfg, tpl, { n: 5, arg: 'a' }, admin), /n: must be at most 4/);
    refused(() => fromTemplate(cfg, tpl, { n: 0, arg: 'a' }, admin), /n: must be at least 1/);
    refused(() => fromTemplate(cfg, tpl, { n: '2 && id', arg: 'a' }, admin), /n: must be a whole number/);
    refused(() => fromTemplate(cfg, tpl, { n: 1, arg: 'a|b' }, admin), /arg: "a\|b" is not accepted/);
    refused(() => fromTemplate(cfg, tpl, { n: 1 }, admin), /arg: a value is required/);
    refused(() => fromTemplate(cfg, tpl, { n: 1, arg: 'a', username: 'root' }, admin), /unknown field\(s\) for template run: username/);
  });

  it('custom scripts: shebang, size, NUL, and the switch that turns them off', () => {
    expect(fromScript(cfg, '#!/bin/sh\r\necho hi\r\n', 'x').script).toBe('#!/bin/sh\necho hi\n');
    refused(() => fromScript(cfg, 'echo hi', 'x'), /#! line/);
    refused(() => fromScript(cfg, `#!/bin/sh\n${'x'.repeat(2000)}`, 'x'), /larger than 1024 bytes/);
    refused(() => fromScript(cfg, '#!/bin/sh\n\0', 'x'), /NUL/);
    refused(() => fromScript(cfg, '#!/bin/sh\n', 'a b'), /"name" may use/);
    refused(() => fromScript({ ...cfg, customScripts: false }, '#!/bin/sh\n', 'x'), /templates only/);
  });
});

describe('jobs config check', () => {
  const check = (yaml: string): string => {
    try {
      parseConfig(yaml, 'atrium.yaml', {});
      return '';
    } catch (err) {
      return (err as Error).message;
    }
  };
  it('needs a spawner kind with batch jobs; fields may not take admin variable names; names unique', () => {
    expect(check('jobs: { enabled: true }')).toMatch(/jobs\.enabled.*batch jobs need a spawner kind that runs them \(Slurm\), not local/);
    expect(check('spawner: { kind: slurm }\njobs: { enabled: true }')).toBe('');
    const bad = check(`spawner: { kind: slurm }
jobs:
  enabled: true
  templates:
    - { name: a, title: A, script: "#!/bin/sh", fields: [{ name: username, label: U }, { name: x, label: X, type: select }] }
    - { name: a, title: B, script: "#!/bin/sh" }`);
    expect(bad).toMatch(/"username" is set by the hub and cannot be a field/);
    expect(bad).toMatch(/a select field needs choices/);
    expect(bad).toMatch(/template "a" is defined twice/);
  });
});

describe('jobs scopes', () => {
  it('users hold jobs and read:jobs for themselves only; admins for everyone', () => {
    const alice = expandScopes(ROLES.user!, 'alice');
    expect(alice.has('jobs!user=alice')).toBe(true);
    expect(alice.has('read:jobs!user=alice')).toBe(true);
    const groups = () => [];
    expect(checkScopes(alice, ['jobs'], { user: 'alice' }, groups)).toBe('ok');
    expect(checkScopes(alice, ['read:jobs'], { user: 'bob' }, groups)).toBe('no-access');
    const admin = expandScopes(ROLES.admin!, 'root');
    expect(checkScopes(admin, ['jobs'], { user: 'bob' }, groups)).toBe('ok');
    expect(checkScopes(admin, ['read:jobs'], { user: 'bob' }, groups)).toBe('ok');
    expect(checkScopes(expandScopes(['read:users'], 'alice'), ['read:jobs'], {}, groups)).toBe('forbidden');
  });
});
