/**
 * A real OpenLDAP slapd for tests: back_mdb in a temp dir, the Debian schemas plus Atrium's
 * uidNext counter schema, the memberof overlay, StartTLS and ldaps with a throw-away CA made by
 * openssl, and a seed directory with users and one group of each membership style.
 * One per test file (beforeAll); stop() kills exactly the slapd PID and removes the temp dir.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { freePort, startProcess, waitForPort } from './util.js';

const run = promisify(execFile);

export const BASE_DN = 'dc=example,dc=org';
export const ROOT_DN = `cn=admin,${BASE_DN}`;
export const ROOT_PW = 'root-secret';
export const READER_DN = `cn=reader,${BASE_DN}`;
export const READER_PW = 'reader-secret';
export const COUNTER_DN = `cn=uidNext,${BASE_DN}`;
export const FIRST_UID = 10000;
/** Seed users and their passwords. */
export const USERS = { alice: 'alice-pw', bob: 'bob-pw', carol: 'carol-pw', dave: 'dave-pw' } as const;

export interface Slapd {
  /** ldap:// URL (plain and StartTLS). */
  url: string;
  /** ldaps:// URL. */
  ldapsUrl: string;
  /** PEM of the CA that signed slapd's certificate. */
  caFile: string;
  dir: string;
  /** Apply LDIF as the root DN (ldapmodify -a). */
  ldif(text: string): Promise<void>;
  stop(): Promise<void>;
}

export async function startSlapd(): Promise<Slapd> {
  const dir = await mkdtemp(join(tmpdir(), 'atrium-slapd-'));
  await mkdir(join(dir, 'db'));
  await makeCerts(dir);
  const [port, ldapsPort] = [await freePort(), await freePort()];
  const schemaDir = '/etc/ldap/schema';
  const counterSchema = resolve(import.meta.dirname, '../../config/ldap/atrium-uidnext.schema');
  const conf = [
    ...['core', 'cosine', 'nis', 'inetorgperson'].map((s) => `include ${schemaDir}/${s}.schema`),
    `include ${counterSchema}`,
    `pidfile ${dir}/slapd.pid`,
    `argsfile ${dir}/slapd.args`,
    'modulepath /usr/lib/ldap',
    'moduleload back_mdb',
    'moduleload memberof',
    `TLSCACertificateFile ${dir}/ca.crt`,
    `TLSCertificateFile ${dir}/server.crt`,
    `TLSCertificateKeyFile ${dir}/server.key`,
    'database mdb',
    'maxsize 104857600',
    `suffix "${BASE_DN}"`,
    `rootdn "${ROOT_DN}"`,
    `rootpw ${ROOT_PW}`,
    `directory ${dir}/db`,
    'index objectClass eq',
    'index uid,uidNumber,memberUid eq',
    'overlay memberof',
    'memberof-group-oc groupOfNames',
    'memberof-member-ad member',
    'memberof-memberof-ad memberOf',
    'access to attrs=userPassword by self write by anonymous auth by * none',
    'access to * by * read',
    '',
  ].join('\n');
  await writeFile(join(dir, 'slapd.conf'), conf);
  const url = `ldap://127.0.0.1:${port}`;
  const ldapsUrl = `ldaps://127.0.0.1:${ldapsPort}`;
  // -d 0 keeps slapd in the foreground so the PID we hold is slapd itself.
  const proc = startProcess('slapd', ['-f', join(dir, 'slapd.conf'), '-h', `${url}/ ${ldapsUrl}/`, '-d', '0']);
  try {
    await waitForPort(port, '127.0.0.1', 20_000);
    await waitForPort(ldapsPort, '127.0.0.1', 20_000);
  } catch (err) {
    await proc.stop();
    throw new Error(`slapd did not start: ${String(err)}\n${proc.output()}`);
  }
  const ldif = async (text: string) => {
    const file = join(dir, `apply-${Date.now()}-${Math.random().toString(36).slice(2)}.ldif`);
    await writeFile(file, text);
    await run('ldapmodify', ['-a', '-x', '-H', url, '-D', ROOT_DN, '-w', ROOT_PW, '-f', file]);
  };
  await ldif(seedLdif());
  return {
    url,
    ldapsUrl,
    caFile: join(dir, 'ca.crt'),
    dir,
    ldif,
    async stop() {
      await proc.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function makeCerts(dir: string): Promise<void> {
  const o = (name: string) => join(dir, name);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await run('openssl', ['req', '-x509', ...ec, '-keyout', o('ca.key'), '-out', o('ca.crt'), '-days', '2', '-subj', '/CN=Atrium test CA']);
  await run('openssl', ['req', '-new', ...ec, '-keyout', o('server.key'), '-out', o('server.csr'), '-subj', '/CN=127.0.0.1']);
  await writeFile(o('san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n');
  await run('openssl', [
    'x509', '-req', '-in', o('server.csr'), '-CA', o('ca.crt'), '-CAkey', o('ca.key'), '-CAcreateserial',
    '-out', o('server.crt'), '-days', '2', '-extfile', o('san.ext'),
  ]);
}

function seedLdif(): string {
  const people = `ou=people,${BASE_DN}`;
  const groups = `ou=groups,${BASE_DN}`;
  const entries: string[] = [
    `dn: ${BASE_DN}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example`,
    `dn: ${people}\nobjectClass: organizationalUnit\nou: people`,
    `dn: ${groups}\nobjectClass: organizationalUnit\nou: groups`,
    `dn: ou=accounts,${BASE_DN}\nobjectClass: organizationalUnit\nou: accounts`,
    `dn: ${READER_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: reader\nuserPassword: ${READER_PW}`,
    `dn: ${COUNTER_DN}\nobjectClass: device\nobjectClass: atriumUidCounter\ncn: uidNext\nuidNext: ${FIRST_UID}`,
  ];
  let uidNumber = 2001;
  for (const [name, pw] of Object.entries(USERS)) {
    entries.push(
      [
        `dn: uid=${name},${people}`,
        'objectClass: inetOrgPerson',
        'objectClass: posixAccount',
        `uid: ${name}`,
        `cn: ${name[0]!.toUpperCase()}${name.slice(1)} Example`,
        'sn: Example',
        `mail: ${name}@example.org`,
        `uidNumber: ${uidNumber}`,
        `gidNumber: ${uidNumber++}`,
        `homeDirectory: /home/${name}`,
        `userPassword: ${pw}`,
      ].join('\n'),
    );
  }
  // One group per membership style: member (groupOfNames, also feeds the memberof overlay),
  // uniqueMember (groupOfUniqueNames), memberUid (posixGroup).
  entries.push(
    `dn: cn=researchers,${groups}\nobjectClass: groupOfNames\ncn: researchers\nmember: uid=alice,${people}`,
    `dn: cn=staff,${groups}\nobjectClass: groupOfUniqueNames\ncn: staff\nuniqueMember: uid=bob,${people}`,
    `dn: cn=posixusers,${groups}\nobjectClass: posixGroup\ncn: posixusers\ngidNumber: 3000\nmemberUid: carol`,
  );
  return entries.join('\n\n') + '\n';
}
