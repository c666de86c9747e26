/** The copy-paste config in docs/spawners/ssh.md is valid as written (schema + the kind's checks). */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/hub/config/loader.js';

const doc = readFileSync(new URL('../../docs/spawners/ssh.md', import.meta.url), 'utf8');

describe('docs/spawners/ssh.md', () => {
  it('the copy-paste config passes the config check', () => {
    const yaml = /```yaml\n([\s\S]*?)```/.exec(doc)?.[1];
    expect(yaml).toBeTruthy();
    const config = parseConfig(yaml!, 'docs/spawners/ssh.md', {}) as unknown as { spawner: { kind: string; ssh: { hosts: unknown[]; args: string[] } } };
    expect(config.spawner.kind).toBe('ssh');
    expect(config.spawner.ssh.hosts).toHaveLength(2);
    expect(config.spawner.ssh.args).toEqual(['--ip=127.0.0.1', '--port=0']);
  });

  it('the config check refuses an ssh block without hosts, naming the key', () => {
    expect(() => parseConfig('spawner:\n  kind: ssh\n  ssh: {}\n', 'x.yaml', {})).toThrow(/spawner\.ssh\.hosts.*at least one host/);
  });
});
