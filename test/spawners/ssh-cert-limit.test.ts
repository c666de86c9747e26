/**
 * Decisions 0016 → 0019, kept honest by a real sshd that trusts a user CA and nothing else:
 * - OpenSSH's own client logs in with the certificate (the CA set-up is right);
 * - ssh2 with patches/ssh2+1.17.0.patch (applied by `npm ci`) logs in too: ed25519, RSA and ECDSA
 *   user keys with certificates made by OpenSSH's ssh-keygen, and certificates the hub signs with
 *   ed25519, RSA and ECDSA CA keys (sshd verifies every signature);
 * - an install where the patch is missing (ssh2 copied and the patch reversed with `patch -R`,
 *   everything else the real node_modules): `atrium config check` refuses `login: user-cert`
 *   naming the key and the fix — never a silent fallback to another login.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Client, utils, type ParsedKey } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { certifiedKey, parseCertificate, signUserCertificate } from '../../src/spawners/ssh/certificate.js';
import { certLoginUnsupported } from '../../src/spawners/ssh/cert-support.js';
import { startSshd, type SshdService } from '../services/sshd.js';
import { freePort, startProcess, waitForPort, type Started } from '../services/util.js';

const ROOT = resolve(import.meta.dirname, '../..');
let svc: SshdService;
let caSshd: Started;
let port = 0;

beforeAll(async () => {
  svc = await startSshd();
  const d = svc.dir;
  for (const t of ['ed25519', 'rsa', 'ecdsa']) execFileSync('ssh-keygen', ['-q', '-t', t, '-N', '', '-f', join(d, `ca_${t}`)]);
  // The sshd trusts all three CAs, and no authorized_keys.
  writeFileSync(join(d, 'cas.pub'), ['ed25519', 'rsa', 'ecdsa'].map((t) => readFileSync(join(d, `ca_${t}.pub`), 'utf8')).join(''));
  const base = readFileSync(join(d, 'sshd_config'), 'utf8')
    .replace(/^AuthorizedKeysFile .*$/m, 'AuthorizedKeysFile none')
    .replace(/^PidFile .*$/m, `PidFile ${join(d, 'sshd-ca.pid')}`);
  writeFileSync(join(d, 'sshd_ca_config'), `${base}TrustedUserCAKeys ${join(d, 'cas.pub')}\n`);
  port = await freePort();
  caSshd = startProcess('/usr/sbin/sshd', ['-D', '-e', '-f', join(d, 'sshd_ca_config'), '-p', String(port)]);
  await waitForPort(port, '127.0.0.1', 15_000);
}, 30_000);

afterAll(async () => {
  await caSshd?.stop();
  await svc?.stop();
});

function parsed(text: string): ParsedKey {
  const k = utils.parseKey(text);
  if (k instanceof Error || Array.isArray(k)) throw new Error('bad test key');
  return k;
}

/** Log in with ssh2 and run `id -un`; the error message when it fails. */
function loginWith(key: ParsedKey): Promise<string> {
  return new Promise((done) => {
    const c = new Client();
    c.on('ready', () =>
      c.exec('id -un', (err, ch) => {
        if (err) return done(err.message);
        let out = '';
        ch.on('data', (d: Buffer) => (out += d.toString()));
        ch.on('close', () => {
          c.end();
          done(out.trim());
        });
      }),
    )
      .on('error', (e) => done(e.message))
      .connect({ host: '127.0.0.1', port, username: svc.user, authHandler: [{ type: 'publickey', username: svc.user, key } as never], hostVerifier: () => true, readyTimeout: 15_000 });
  });
}

describe('SSH certificate login (decisions 0016, 0019)', () => {
  it('OpenSSH logs in with the certificate; the CA set-up is right', () => {
    const key = join(svc.dir, 'ossh_user');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
    execFileSync('ssh-keygen', ['-q', '-s', join(svc.dir, 'ca_ed25519'), '-I', 'atrium-test', '-n', svc.user, '-V', '+1h', `${key}.pub`]);
    const r = spawnSync('ssh', [
      '-i', key, '-o', `CertificateFile=${key}-cert.pub`,
      '-o', `UserKnownHostsFile=${svc.knownHostsFile}`, '-o', 'StrictHostKeyChecking=no', '-o', 'BatchMode=yes',
      '-p', String(port), `${svc.user}@127.0.0.1`, 'echo cert-ok',
    ], { encoding: 'utf8', timeout: 15_000 });
    expect(r.stdout.trim()).toBe('cert-ok');
  });

  it('the installed ssh2 passes the start-time probe', () => {
    expect(certLoginUnsupported()).toBeNull();
  });

  it.each(['ed25519', 'rsa', 'ecdsa'])('ssh2 logs in with an %s key and a certificate made by ssh-keygen', async (type) => {
    const key = join(svc.dir, `user_${type}`);
    execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-f', key]);
    execFileSync('ssh-keygen', ['-q', '-s', join(svc.dir, 'ca_ed25519'), '-I', `ossh-${type}`, '-n', svc.user, '-V', '-5m:+1h', `${key}.pub`]);
    const cert = parseCertificate(readFileSync(`${key}-cert.pub`, 'utf8'));
    expect(cert.keyId).toBe(`ossh-${type}`);
    expect(cert.principals).toEqual([svc.user]);
    expect(await loginWith(certifiedKey(parsed(readFileSync(key, 'utf8')), cert))).toBe(svc.user);
  }, 30_000);

  it.each(['ed25519', 'rsa', 'ecdsa'])('ssh2 logs in with a certificate the hub signed with an %s CA; ssh-keygen reads it', async (type) => {
    const ca = parsed(readFileSync(join(svc.dir, `ca_${type}`), 'utf8'));
    const user = parsed(utils.generateKeyPairSync('ecdsa', { bits: 256 }).private);
    const now = BigInt(Math.floor(Date.now() / 1000));
    const blob = signUserCertificate(ca, { publicKey: user.getPublicSSH(), keyId: `hub-${type}`, principals: [svc.user], validAfter: now - 120n, validBefore: now + 300n });
    const file = join(svc.dir, `hub-${type}-cert.pub`);
    writeFileSync(file, `${blob.subarray(4, 4 + blob.readUInt32BE(0)).toString()} ${blob.toString('base64')}\n`);
    const shown = execFileSync('ssh-keygen', ['-L', '-f', file]).toString();
    expect(shown).toMatch(/user certificate/);
    expect(shown).toMatch(new RegExp(`Key ID: "hub-${type}"`));
    expect(shown).toMatch(/permit-port-forwarding[\s\S]*permit-pty/);
    expect(await loginWith(certifiedKey(user, parseCertificate(blob)))).toBe(svc.user);
  }, 30_000);

  it('without the patch, `atrium config check` refuses login: user-cert with the key and the fix', () => {
    // An install where postinstall did not run: every package the real one, ssh2 unpatched.
    const inst = join(ROOT, '.test-results', `unpatched-${process.pid}`);
    rmSync(inst, { recursive: true, force: true });
    mkdirSync(join(inst, 'node_modules'), { recursive: true });
    try {
      for (const f of ['bin', 'dist', 'package.json']) symlinkSync(join(ROOT, f), join(inst, f));
      for (const m of readdirSync(join(ROOT, 'node_modules'))) if (m !== 'ssh2') symlinkSync(join(ROOT, 'node_modules', m), join(inst, 'node_modules', m));
      cpSync(join(ROOT, 'node_modules', 'ssh2'), join(inst, 'node_modules', 'ssh2'), { recursive: true });
      execFileSync('patch', ['-R', '-p1', '-s', '-d', inst, '-i', join(ROOT, 'patches', 'ssh2+1.17.0.patch')]);
      const cfg = join(inst, 'atrium.yaml');
      writeFileSync(cfg, [
        'spawner:', '  kind: ssh', '  ssh:', '    login: user-cert',
        '    hosts: [{ name: h1, address: 192.0.2.1 }]', '',
      ].join('\n'));
      // dist/ is a symlink into the real tree: --preserve-symlinks keeps module resolution in `inst`.
      const r = spawnSync('node', ['--preserve-symlinks', '--preserve-symlinks-main', join(inst, 'bin', 'atrium.js'), 'config', 'check', cfg], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, ATRIUM_NO_BUNDLE: '1' } });
      const out = r.stdout + r.stderr;
      expect(r.status).not.toBe(0);
      expect(out).toMatch(/spawner\.ssh\.login.*login: user-cert is not available: the installed ssh2 names the signature "ssh-ed25519-cert-v01@openssh\.com" where sshd expects "ssh-ed25519"/);
      expect(out).toMatch(/run `npm ci` \(or `npx patch-package`\)/);
    } finally {
      rmSync(inst, { recursive: true, force: true });
    }
  }, 60_000);
});
