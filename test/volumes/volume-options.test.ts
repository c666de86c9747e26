/** Option names of docker-volume-sshfs keep working; unsafe ones are refused; sshfs gets host key checking. */
import { describe, expect, it } from 'vitest';
import { explainFailure, sshfsArgs } from '../../src/volumes/sshfs/sshfs-mount.js';
import { parseVolumeOptions } from '../../src/volumes/sshfs/volume-options.js';

describe('sshfs volume options', () => {
  it('accepts the docker-volume-sshfs names', () => {
    expect(parseVolumeOptions({ sshcmd: 'bob@files:/srv/bob', password: 'pw' })).toMatchObject({ user: 'bob', host: 'files', remotePath: '/srv/bob', port: 22, password: 'pw' });
    expect(parseVolumeOptions({ sshcmd: 'bob@files:', port: '2222', IdentityFile: '/etc/keys/bob' })).toMatchObject({ remotePath: '.', port: 2222, identityFile: '/etc/keys/bob' });
    expect(parseVolumeOptions({ sshcmd: 'bob@[::1]:/x', identity_file: '/k' }).host).toBe('::1');
    // Keys from a portal header often carry escaped newlines.
    expect(parseVolumeOptions({ sshcmd: 'b@h:/x', id_rsa: '-----BEGIN KEY-----\\nabc\\n-----END KEY-----' }).keyContent).toBe('-----BEGIN KEY-----\nabc\n-----END KEY-----\n');
    expect(parseVolumeOptions({ sshcmd: 'b@h:/x', password: 'p', reconnect: '', uid: '1000' }).extra).toEqual(['reconnect', 'uid=1000']);
  });

  it('refuses what would be dangerous or ambiguous', () => {
    expect(() => parseVolumeOptions({ password: 'x' })).toThrow(/'sshcmd'.*required/);
    expect(() => parseVolumeOptions({ sshcmd: 'b@h:/x', password: 'p', id_rsa: 'k' })).toThrow(/only one/);
    expect(() => parseVolumeOptions({ sshcmd: 'b@h:/x', password: 'p', ProxyCommand: 'sh -c x' })).toThrow(/ProxyCommand/);
    expect(() => parseVolumeOptions({ sshcmd: 'b@h:/x', password: 'p', uid: '1,allow_root' })).toThrow(/invalid value/);
    expect(() => parseVolumeOptions({ sshcmd: 'b@h:/x', password: 'p', port: '99999' })).toThrow(/port/);
  });

  it('always checks host keys unless explicitly told not to', () => {
    const files = { logFile: '/l', keyFile: '/k' };
    const strict = sshfsArgs(parseVolumeOptions({ sshcmd: 'b@h:/x', id_rsa: 'k' }), '/mnt/v', files, '/etc/kh').join(' ');
    expect(strict).toContain('StrictHostKeyChecking=yes');
    expect(strict).toContain('UserKnownHostsFile=/etc/kh');
    expect(strict).not.toContain('k\n'); // the key itself never appears on the command line
    const off = sshfsArgs(parseVolumeOptions({ sshcmd: 'b@h:/x', id_rsa: 'k', StrictHostKeyChecking: 'no' }), '/mnt/v', files, '/etc/kh').join(' ');
    expect(off).toContain('StrictHostKeyChecking=no');
  });

  it('turns ssh noise into one clear message', () => {
    const spec = parseVolumeOptions({ sshcmd: 'b@10.0.0.1:/x', port: '2222', password: 'p' });
    expect(explainFailure(spec, 'Host key verification failed.\nread: Connection reset by peer', 1)).toBe('sshfs: host key verification failed for 10.0.0.1:2222');
    expect(explainFailure(spec, 'b@10.0.0.1: Permission denied (publickey).', 1)).toBe('sshfs: authentication failed for b@10.0.0.1:2222');
    expect(explainFailure(spec, 'ssh: connect to host 10.0.0.1 port 2222: Connection refused', 1)).toBe('sshfs: connection refused by 10.0.0.1:2222');
  });
});
