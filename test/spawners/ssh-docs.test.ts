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

describe('docs/spawners/ssh.md, certificate logins', () => {
  const blocks = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!).filter((y) => y.includes('login: user-cert'));
  it('both copy-paste configs are there; the auth-state one passes the config check', () => {
    expect(blocks).toHaveLength(2);
    const authState = blocks.find((y) => y.includes('source: auth-state'))!;
    const config = parseConfig(authState, 'docs/spawners/ssh.md', {}) as unknown as { spawner: { ssh: { userCert: { source: string } } } };
    expect(config.spawner.ssh.userCert.source).toBe('auth-state');
  });
  it('the hub-ca one is refused only because this machine has no CA key at the documented path', () => {
    const hubCa = blocks.find((y) => y.includes('source: hub-ca'))!;
    expect(() => parseConfig(hubCa, 'docs/spawners/ssh.md', {})).toThrow(/spawner\.ssh\.userCert\.caKeyFile.*the CA key \/etc\/atrium\/ssh\/user_ca is not readable \(ENOENT\)/);
  });
});
