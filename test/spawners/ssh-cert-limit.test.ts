/**
 * Decision 0016, kept honest by a real sshd: certificate login works with OpenSSH's client and
 * the CA set-up documented in docs/spawners/ssh.md, and ssh2 (the spawner's SSH library) is
 * refused at the signature step even when an in-process agent offers the certificate. If an ssh2
 * upgrade makes the second check fail, certificates can be added to the spawner (see 0016).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BaseAgent, Client, utils, type ParsedKey } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSshd, type SshdService } from '../services/sshd.js';
import { freePort, startProcess, waitForPort, type Started } from '../services/util.js';

let svc: SshdService;
let caSshd: Started;
let port = 0;
let userKey = '';
let cert = '';

beforeAll(async () => {
  svc = await startSshd();
  const d = svc.dir;
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(d, 'ca')]);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(d, 'certuser')]);
  execFileSync('ssh-keygen', ['-q', '-s', join(d, 'ca'), '-I', 'atrium-test', '-n', svc.user, '-V', '+1h', join(d, 'certuser.pub')]);
  userKey = readFileSync(join(d, 'certuser'), 'utf8');
  cert = readFileSync(join(d, 'certuser-cert.pub'), 'utf8').trim();
  // A second sshd from the same config, trusting only the CA (no authorized_keys).
  const base = readFileSync(join(d, 'sshd_config'), 'utf8')
    .replace(/^AuthorizedKeysFile .*$/m, 'AuthorizedKeysFile none')
    .replace(/^PidFile .*$/m, `PidFile ${join(d, 'sshd-ca.pid')}`)
    .replace(/^LogLevel .*$/m, 'LogLevel DEBUG1'); // "Accepted certificate" is a debug line
  writeFileSync(join(d, 'sshd_ca_config'), `${base}TrustedUserCAKeys ${join(d, 'ca.pub')}\n`);
  port = await freePort();
  caSshd = startProcess('/usr/sbin/sshd', ['-D', '-e', '-f', join(d, 'sshd_ca_config'), '-p', String(port)]);
  await waitForPort(port, '127.0.0.1', 15_000);
}, 30_000);

afterAll(async () => {
  await caSshd?.stop();
  await svc?.stop();
});

/** Offers the certificate blob as the identity and signs with the plain key. */
class CertAgent extends BaseAgent {
  constructor(private readonly priv: ParsedKey, private readonly ident: ParsedKey) { super(); }
  getIdentities(cb: (err: Error | undefined, keys?: ParsedKey[]) => void): void { cb(undefined, [this.ident]); }
  sign(_pub: ParsedKey, data: Buffer, _opts: unknown, cb?: (err: Error | undefined, sig?: Buffer) => void): void {
    cb?.(undefined, this.priv.sign(data));
  }
}

describe('SSH certificate login (decision 0016)', () => {
  it('OpenSSH logs in with the certificate; the CA set-up is right', () => {
    const r = spawnSync('ssh', [
      '-i', join(svc.dir, 'certuser'), '-o', `CertificateFile=${join(svc.dir, 'certuser-cert.pub')}`,
      '-o', `UserKnownHostsFile=${svc.knownHostsFile}`, '-o', 'StrictHostKeyChecking=no', '-o', 'BatchMode=yes',
      '-p', String(port), `${svc.user}@127.0.0.1`, 'echo cert-ok',
    ], { encoding: 'utf8', timeout: 15_000 });
    expect(r.stdout.trim()).toBe('cert-ok');
  });

  it('ssh2 through an in-process agent is refused at the signature step', async () => {
    const priv = utils.parseKey(userKey);
    if (priv instanceof Error || Array.isArray(priv)) throw new Error('bad test key');
    const [certType, certB64] = cert.split(/\s+/);
    const ident = Object.create(priv) as ParsedKey;
    Object.assign(ident, { type: certType, getPublicSSH: () => Buffer.from(certB64, 'base64') });
    const result = await new Promise<string>((done) => {
      const c = new Client();
      c.on('ready', () => { c.end(); done('ready'); })
        .on('error', (e) => done(e.message))
        .connect({ host: '127.0.0.1', port, username: svc.user, agent: new CertAgent(priv, ident), hostVerifier: () => true, readyTimeout: 15_000 });
    });
    expect(result).toMatch(/authentication methods failed/);
    await new Promise((r) => setTimeout(r, 300)); // let sshd's log lines arrive
    const log = caSshd.output();
    expect(log).toMatch(/Accepted certificate ID "atrium-test"/); // the query step passed
    expect(log).toMatch(/Failed publickey for \S+ .*ED25519-CERT/); // the signed step did not
  });
});
