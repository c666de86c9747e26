/**
 * OpenSSH user certificates (the `*-cert-v01@openssh.com` key types): read one, check it before
 * use, sign one with a CA key, and wrap a private key so ssh2 offers the certificate in its place.
 * Written from the format in OpenSSH's PROTOCOL.certkeys: the certified key's public fields, then
 * serial, type (1 = user), key id, principals, validity window (seconds since the epoch), critical
 * options, extensions, the CA's public key, and the CA's signature over everything before it.
 */
import { randomBytes } from 'node:crypto';
import type { ParsedKey, utils as Ssh2Utils } from 'ssh2';

const CERT_SUFFIX = '-cert-v01@openssh.com';
export const USER_CERT = 1;
/** Fields of the certified key after its type name, per base type (mpint and string read alike). */
const KEY_FIELDS: Record<string, number> = { 'ssh-ed25519': 1, 'ssh-rsa': 2, 'ecdsa-sha2-nistp256': 2, 'ecdsa-sha2-nistp384': 2, 'ecdsa-sha2-nistp521': 2 };
/** What a session of the hub needs: port-forwarding carries both tunnels, a pty the web shell. */
export const HUB_CERT_EXTENSIONS = ['permit-port-forwarding', 'permit-pty'];

export interface SshCertificate {
  /** e.g. ssh-ed25519-cert-v01@openssh.com */
  type: string;
  /** The certified key's own type, e.g. ssh-ed25519 (the name inside its signatures). */
  baseType: string;
  /** The certified key's plain public key blob. */
  publicKey: Buffer;
  serial: bigint;
  certType: number;
  keyId: string;
  principals: string[];
  validAfter: bigint;
  validBefore: bigint;
  criticalOptions: string[];
  extensions: string[];
  /** The CA's public key blob. */
  signatureKey: Buffer;
  /** The whole certificate (what goes on the wire and after the type in a -cert.pub line). */
  blob: Buffer;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

function u64(n: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(n);
  return b;
}

function str(v: Buffer | string): Buffer {
  const b = typeof v === 'string' ? Buffer.from(v) : v;
  return Buffer.concat([u32(b.length), b]);
}

class Reader {
  private pos = 0;
  constructor(private readonly buf: Buffer) {}
  private take(n: number): Buffer {
    if (this.pos + n > this.buf.length) throw new Error('the certificate is truncated');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  u32(): number {
    return this.take(4).readUInt32BE();
  }
  u64(): bigint {
    return this.take(8).readBigUInt64BE();
  }
  bytes(): Buffer {
    return this.take(this.u32());
  }
  text(): string {
    return this.bytes().toString('utf8');
  }
  /** A raw length-prefixed field, prefix included (to rebuild a public key blob). */
  rawField(): Buffer {
    const start = this.pos;
    this.bytes();
    return this.buf.subarray(start, this.pos);
  }
  /** Names of a name/data list (critical options, extensions). */
  names(): string[] {
    const r = new Reader(this.bytes());
    const out: string[] = [];
    while (!r.done) {
      out.push(r.text());
      r.bytes();
    }
    return out;
  }
  get done(): boolean {
    return this.pos >= this.buf.length;
  }
  get offset(): number {
    return this.pos;
  }
}

export function isCertificateType(type: string): boolean {
  return type.endsWith(CERT_SUFFIX);
}

/** Parse a certificate: a `-cert.pub` line ("type base64 [comment]") or the raw blob. */
export function parseCertificate(input: string | Buffer): SshCertificate {
  let blob: Buffer;
  if (typeof input === 'string') {
    const [, b64] = input.trim().split(/\s+/);
    if (!b64) throw new Error('it is not an OpenSSH certificate line ("<type>-cert-v01@openssh.com AAAA…")');
    blob = Buffer.from(b64, 'base64');
  } else blob = input;
  const r = new Reader(blob);
  const type = r.text();
  if (!isCertificateType(type)) throw new Error(`"${type.slice(0, 60)}" is not a certificate type (a plain public key?)`);
  const baseType = type.slice(0, -CERT_SUFFIX.length);
  const fields = KEY_FIELDS[baseType];
  if (fields === undefined) throw new Error(`certificates of ${baseType} keys are not supported (ed25519, RSA and ECDSA are)`);
  r.bytes(); // nonce
  const keyParts: Buffer[] = [];
  for (let i = 0; i < fields; i++) keyParts.push(r.rawField());
  const serial = r.u64();
  const certType = r.u32();
  const keyId = r.text();
  const pr = new Reader(r.bytes());
  const principals: string[] = [];
  while (!pr.done) principals.push(pr.text());
  const validAfter = r.u64();
  const validBefore = r.u64();
  const criticalOptions = r.names();
  const extensions = r.names();
  r.bytes(); // reserved
  const signatureKey = r.bytes();
  r.bytes(); // signature (sshd checks it; the hub only reads the fields it can explain)
  if (!r.done) throw new Error('the certificate has trailing bytes');
  return { type, baseType, publicKey: Buffer.concat([str(baseType), ...keyParts]), serial, certType, keyId, principals, validAfter, validBefore, criticalOptions, extensions, signatureKey, blob };
}

/** Wall-clock seconds as OpenSSH writes them; a validBefore of 2^64-1 means "forever". */
function when(secs: bigint): string {
  if (secs >= 0xffffffffffffffffn) return 'forever';
  return new Date(Number(secs) * 1000).toISOString().replace('.000Z', 'Z');
}

/**
 * Why this certificate cannot log in as `principal` now, or null. Checked before any
 * connection so the spawn page says what is wrong instead of sshd's bare "authentication failed".
 */
export function certificateProblem(cert: SshCertificate, opts: { principal: string; publicKey?: Buffer; nowMs?: number }): string | null {
  const now = BigInt(Math.floor((opts.nowMs ?? Date.now()) / 1000));
  const id = `certificate "${cert.keyId}"`;
  if (cert.certType !== USER_CERT) return `the ${id} is a host certificate, not a user certificate`;
  if (opts.publicKey && !cert.publicKey.equals(opts.publicKey)) return `the ${id} was issued for a different key than the private key next to it`;
  if (now < cert.validAfter) return `the ${id} is not valid yet: valid from ${when(cert.validAfter)} (now ${when(now)}; check the clocks)`;
  if (now >= cert.validBefore) return `the ${id} has expired: valid until ${when(cert.validBefore)} (now ${when(now)}); log in again for a fresh one`;
  if (cert.principals.length === 0) return `the ${id} names no principal (sshd refuses such a certificate without AuthorizedPrincipalsFile)`;
  if (!cert.principals.includes(opts.principal)) return `the ${id} is for ${cert.principals.map((p) => `"${p}"`).join(', ')}, not for the account "${opts.principal}" on the host`;
  return null;
}

/** A CA key's signature in SSH form: ed25519 as is, RSA with SHA-512, ECDSA (r, s) from DER. */
function caSignature(ca: ParsedKey, data: Buffer): Buffer {
  const type = ca.type as string;
  if (type === 'ssh-ed25519') return Buffer.concat([str(type), str(ca.sign(data))]);
  if (type === 'ssh-rsa') return Buffer.concat([str('rsa-sha2-512'), str(ca.sign(data, 'sha512'))]);
  if (type.startsWith('ecdsa-sha2-')) {
    return Buffer.concat([str(type), str(ecdsaDerToSsh(ca.sign(data)))]);
  }
  throw new Error(`a ${type} CA key cannot sign certificates here (use ed25519, RSA or ECDSA)`);
}

/** DER SEQUENCE { INTEGER r, INTEGER s } → SSH mpint r, mpint s. */
function ecdsaDerToSsh(der: Buffer): Buffer {
  let p = 2;
  if (der[1]! & 0x80) p = 2 + (der[1]! & 0x7f);
  const ints: Buffer[] = [];
  for (let i = 0; i < 2; i++) {
    if (der[p] !== 0x02) throw new Error('unexpected ECDSA signature encoding');
    const len = der[p + 1]!;
    let v = der.subarray(p + 2, p + 2 + len);
    p += 2 + len;
    while (v.length > 1 && v[0] === 0 && !(v[1]! & 0x80)) v = v.subarray(1);
    if (v[0]! & 0x80) v = Buffer.concat([Buffer.from([0]), v]);
    ints.push(str(v));
  }
  return Buffer.concat(ints);
}

export interface CertificateRequest {
  /** The certified key's plain public key blob (ParsedKey.getPublicSSH()). */
  publicKey: Buffer;
  keyId: string;
  principals: string[];
  validAfter: bigint;
  validBefore: bigint;
  extensions?: string[];
  serial?: bigint;
}

/** Sign a user certificate for `req.publicKey` with the CA private key `ca`; the blob. */
export function signUserCertificate(ca: ParsedKey, req: CertificateRequest): Buffer {
  const kr = new Reader(req.publicKey);
  const baseType = kr.text();
  if (KEY_FIELDS[baseType] === undefined) throw new Error(`cannot certify a ${baseType} key`);
  const keyFields = req.publicKey.subarray(kr.offset);
  // Extensions sorted by name, each with empty data (PROTOCOL.certkeys: flags carry no value).
  const ext = [...(req.extensions ?? HUB_CERT_EXTENSIONS)].sort().map((n) => Buffer.concat([str(n), str('')]));
  const body = Buffer.concat([
    str(baseType + CERT_SUFFIX),
    str(randomBytes(32)),
    keyFields,
    u64(req.serial ?? randomBytes(8).readBigUInt64BE()),
    u32(USER_CERT),
    str(req.keyId),
    str(Buffer.concat(req.principals.map((p) => str(p)))),
    u64(req.validAfter),
    u64(req.validBefore),
    str(''), // critical options: none (no force-command, no source-address)
    str(Buffer.concat(ext)),
    str(''), // reserved
    str(ca.getPublicSSH()),
  ]);
  return Buffer.concat([body, str(caSignature(ca, body))]);
}

/** A `-cert.pub` line for a blob. */
export function certificateLine(blob: Buffer, comment = ''): string {
  const type = new Reader(blob).text();
  return `${type} ${blob.toString('base64')}${comment ? ` ${comment}` : ''}`;
}

/**
 * The private key as ssh2 should offer it: the certificate is the public half (type and blob),
 * signatures come from the private key. RSA keys sign with SHA-512 (OpenSSH refuses SHA-1), so
 * the request names rsa-sha2-512-cert-v01@openssh.com. Needs ssh2 with patches/ssh2+*.patch,
 * which writes the plain name inside the signature (decision 0019); cert-support.ts checks that.
 */
export function certifiedKey(priv: ParsedKey, cert: SshCertificate): ParsedKey {
  const rsa = cert.baseType === 'ssh-rsa';
  const wrapped = Object.create(priv) as ParsedKey;
  Object.defineProperties(wrapped, {
    type: { value: rsa ? `rsa-sha2-512${CERT_SUFFIX}` : cert.type, enumerable: true },
    getPublicSSH: { value: () => cert.blob },
    sign: { value: (data: Buffer | string, algo?: string) => priv.sign(data, algo ?? (rsa ? 'sha512' : undefined)) },
  });
  return wrapped;
}

/**
 * A fresh ed25519 key pair, parsed. ssh2 1.17's generateKeyPairSync writes a key its own parser
 * refuses ("Malformed OpenSSH private key") about once in 170 tries, so a refused one is replaced.
 */
export function freshKey(utils: typeof Ssh2Utils): { key: ParsedKey; pem: string } {
  for (let i = 0; ; i++) {
    const pem = utils.generateKeyPairSync('ed25519').private;
    const k = utils.parseKey(pem);
    if (!(k instanceof Error) && !Array.isArray(k)) return { key: k, pem };
    if (i >= 10) throw new Error(`cannot make an ed25519 key: ${k instanceof Error ? k.message : 'unexpected key list'}`);
  }
}
