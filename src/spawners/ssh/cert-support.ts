/**
 * Whether the installed ssh2 can log in with an OpenSSH certificate (decision 0019): upstream
 * ssh2 1.17 writes the certificate's algorithm name inside the signature too, which sshd refuses;
 * patches/ssh2+<version>.patch, applied by `npm ci` (postinstall: patch-package), writes the plain
 * name there. Instead of trusting a marker, this builds one signed USERAUTH_REQUEST with ssh2's
 * own code on a throw-away certificate and reads the name back from the bytes. Run once, by the
 * config check and hub start when `login: user-cert` is configured, so an unpatched install is
 * refused at start instead of failing every login later.
 */
import { readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { ParsedKey } from 'ssh2';
import { certifiedKey, freshKey, parseCertificate, signUserCertificate } from './certificate.js';

export const CERT_PATCH_FIX = 'run `npm ci` (or `npx patch-package`) in the Atrium folder so patches/ssh2+*.patch is applied to node_modules/ssh2; see docs/decisions/0019';

let verdict: string | null | undefined;

/** null when certificate login works; otherwise why not (for a config error). Cached. */
export function certLoginUnsupported(): string | null {
  if (verdict === undefined) verdict = probe();
  return verdict;
}

interface ProtocolLike {
  _kex: { sessionID: Buffer } | undefined;
  authPK(user: string, key: ParsedKey, algo: string | undefined, sign: (data: Buffer, cb: (sig: Buffer) => void) => void): void;
}

function probe(): string | null {
  try {
    const require = createRequire(import.meta.url);
    // Required here, not imported: the descriptor imports this file and must stay light.
    const { utils } = require('ssh2') as typeof import('ssh2');
    const Protocol = require('ssh2/lib/protocol/Protocol.js') as new (cfg: object) => ProtocolLike;
    const ca = freshKey(utils).key;
    const user = freshKey(utils).key;
    const blob = signUserCertificate(ca, { publicKey: user.getPublicSSH(), keyId: 'probe', principals: ['probe'], validAfter: 0n, validBefore: 1n });
    const writes: Buffer[] = [];
    const proto = new Protocol({ onWrite: (d: Buffer) => writes.push(Buffer.from(d)), onError: () => undefined });
    writes.length = 0; // the identification line
    proto._kex = { sessionID: Buffer.alloc(32) };
    proto.authPK('probe', certifiedKey(user, parseCertificate(blob)), undefined, (data, cb) => cb(user.sign(data)));
    const name = signatureName(Buffer.concat(writes));
    if (name === 'ssh-ed25519') return null;
    return `the installed ssh2 names the signature "${name}" where sshd expects "ssh-ed25519", so sshd refuses every certificate login`;
  } catch (err) {
    return `the installed ssh2 could not be checked for certificate login (${(err as Error).message})`;
  }
}

/** The algorithm name inside the signature of one unencrypted USERAUTH_REQUEST packet. */
function signatureName(packet: Buffer): string {
  let p = 5; // uint32 packet length, byte padding length
  if (packet[p] !== 50) throw new Error('no USERAUTH_REQUEST was written');
  p += 1;
  const skip = () => {
    const n = packet.readUInt32BE(p);
    p += 4 + n;
    return packet.subarray(p - n, p);
  };
  skip(); // user
  skip(); // service
  skip(); // method
  p += 1; // has signature
  skip(); // algorithm
  skip(); // key blob
  const sig = skip();
  return sig.subarray(4, 4 + sig.readUInt32BE(0)).toString();
}

/**
 * The CA private key of `login: user-cert` with source hub-ca, read fresh (an admin may rotate it).
 * Refused when group or others may read it: whoever reads it can log in as anybody on every host
 * that trusts it.
 */
export function readCaKey(file: string): { key: ParsedKey } | { error: string } {
  let mode: number;
  let text: string;
  try {
    mode = statSync(file).mode;
    text = readFileSync(file, 'utf8');
  } catch (err) {
    return { error: `the CA key ${file} is not readable (${(err as NodeJS.ErrnoException).code ?? String(err)})` };
  }
  if (mode & 0o077) return { error: `the CA key ${file} may be read by group or others (mode ${(mode & 0o777).toString(8)}); make it readable by the hub only: chmod 600 ${file}` };
  const { utils } = createRequire(import.meta.url)('ssh2') as typeof import('ssh2');
  const parsed = utils.parseKey(text);
  const k = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!k || k instanceof Error) return { error: `the CA key ${file} cannot be read (${k instanceof Error ? k.message : 'empty'}; an OpenSSH private key without a passphrase is needed)` };
  if (!k.isPrivateKey()) return { error: `${file} holds a public key; the CA's private key is needed` };
  if (!['ssh-ed25519', 'ssh-rsa'].includes(k.type) && !k.type.startsWith('ecdsa-sha2-')) return { error: `the CA key ${file} is a ${k.type} key; use ed25519, RSA or ECDSA` };
  return { key: k };
}
