/**
 * The user's data on the SSH host: sshfs from the data server named in auth_state (the mount data
 * the header authenticator stores, as for the Swarm spawner's sshfs mounts), mounted before the
 * server starts and unmounted after it stops.
 *
 * Root mounts it (through adminPrefix) at <root>/<user>/<server>: every folder on that path is
 * made and checked by root, so a user cannot redirect the mount with a symlink, and the mount
 * gets allow_other + default_permissions + the user's uid/gid + umask 077, so only that user (and
 * root) can open it. The data key travels on stdin and lives in a root-only 0600 file for the
 * life of the mount (sshfs's `reconnect` needs it again), removed at unmount. The data server's
 * host key is always checked: pinned keys or a known_hosts file on the host, StrictHostKeyChecking
 * yes, never "accept anything".
 */
import { explainFailure } from '../../volumes/sshfs/sshfs-mount.js';
import { normaliseKey } from '../../volumes/sshfs/volume-options.js';
import { SpawnError } from '../spawner.js';
import { mountFields } from '../mount-fields.js';
import type { HostConnection } from '../../shared/ssh/connection-pool.js';
import type { SshDataMount } from './options.js';
import { commandLine } from './remote-scripts.js';

const MOUNT = String.raw`
import json, os, sys, pwd, stat, subprocess, hashlib
req = json.loads(sys.stdin.readline())
def out(o):
    sys.stdout.write(json.dumps(o) + "\n"); sys.stdout.flush()
root = req["root"]; mp = req["mountpoint"]; keys = os.path.join(root, ".keys")
kid = hashlib.sha256(mp.encode()).hexdigest()[:20]
keyfile = os.path.join(keys, kid + ".key"); khfile = os.path.join(keys, kid + ".known_hosts")
def mounted():
    with open("/proc/self/mounts") as f:
        return any(l.split()[1] == mp for l in f)
def umount():
    if mounted():
        if subprocess.run(["umount", mp], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", mp], capture_output=True)
    for f in (keyfile, khfile):
        try: os.unlink(f)
        except FileNotFoundError: pass
    try: os.rmdir(mp)
    except OSError: pass
def root_dir(p, mode):
    try: os.mkdir(p, mode)
    except FileExistsError: pass
    st = os.lstat(p)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != 0:
        out({"error": "%s is not a folder owned by root; refusing to mount there" % p}); sys.exit(0)
    os.chmod(p, mode)
def secret(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    os.write(fd, text.encode()); os.close(fd)
if req["op"] == "umount":
    umount(); out({"ok": not mounted()}); sys.exit(0)
pw = pwd.getpwnam(req["user"])
if pw.pw_uid == 0: out({"error": "refusing to mount data for root"}); sys.exit(0)
parent = os.path.dirname(root)
if not os.path.isdir(parent): os.makedirs(parent, 0o755)
root_dir(root, 0o755); root_dir(keys, 0o700); root_dir(os.path.dirname(mp), 0o755)
umount()
os.mkdir(mp, 0o700); os.chown(mp, pw.pw_uid, pw.pw_gid)
secret(keyfile, req["key"])
opts = ["allow_other", "default_permissions", "uid=%d" % pw.pw_uid, "gid=%d" % pw.pw_gid, "umask=077",
        "reconnect", "ServerAliveInterval=15", "ServerAliveCountMax=3", "ConnectTimeout=15",
        "StrictHostKeyChecking=yes", "GlobalKnownHostsFile=/dev/null",
        "IdentityFile=" + keyfile, "IdentitiesOnly=yes", "BatchMode=yes", "PasswordAuthentication=no"]
if req["hostKeys"]:
    secret(khfile, "".join("atrium-data %s\n" % k for k in req["hostKeys"]))
    opts += ["UserKnownHostsFile=" + khfile, "HostKeyAlias=atrium-data"]
else:
    opts += ["UserKnownHostsFile=" + req["knownHostsFile"]]
if req["readOnly"]: opts.append("ro")
host = req["host"]
target = "%s@%s:%s" % (req["login"], "[%s]" % host if ":" in host else host, req["path"])
try:
    r = subprocess.run([req["sshfs"], target, mp, "-p", str(req["port"]), "-o", ",".join(opts)],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=req["timeout"])
    err = r.stderr.decode("utf-8", "replace"); code = r.returncode
except subprocess.TimeoutExpired:
    err = "timed out"; code = None
except OSError as e:
    err = str(e); code = None
if code != 0 or not mounted():
    # sshfs reports a refused host key or login as a bare "read: Connection reset by peer": ask
    # ssh itself, with the same options, what went wrong (one more connection, failures only).
    ssh_opts = [x for o in opts if "=" in o and o[0].isupper() for x in ("-o", o)]
    try:
        d = subprocess.run(["ssh", "-T", "-p", str(req["port"])] + ssh_opts + ["%s@%s" % (req["login"], host), "exit"],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=20)
        err = d.stderr.decode("utf-8", "replace") + err
    except (OSError, subprocess.TimeoutExpired):
        pass
    umount(); out({"error": err.strip()[-2000:], "code": code}); sys.exit(0)
out({"mountpoint": mp})
`;

export interface DataMountRequest {
  host: string;
  port: number;
  login: string;
  path: string;
  key: string;
}

/**
 * The validated mount request, null when auth_state has none (and the mount is optional).
 * The fields become one argv word each on the host, so a HOST or USERNAME starting with "-" (an
 * option to sshfs) or holding anything unusual is refused.
 */
export function dataMountRequest(dm: SshDataMount, authState: Record<string, unknown> | null): DataMountRequest | null {
  const f = mountFields(authState, dm.authStateKey, 'Your data cannot be mounted');
  if (!f) {
    if (dm.optional) return null;
    throw new SpawnError(`Your data cannot be mounted: there are no mount details in auth_state.${dm.authStateKey} (log in again through the portal)`);
  }
  const bad = (what: string) => new SpawnError(`Your data cannot be mounted: the mount details have ${what}`);
  const host = f.HOST ?? '';
  const login = f.USERNAME ?? '';
  const path = f.PATH ?? '';
  const port = f.PORT ? Number(f.PORT) : 22;
  if (!/^[A-Za-z0-9.:[\]_-]+$/.test(host) || host.startsWith('-')) throw bad(`no usable HOST (${JSON.stringify(host)})`);
  if (!/^[A-Za-z0-9._-]+$/.test(login) || login.startsWith('-')) throw bad(`no usable USERNAME (${JSON.stringify(login)})`);
  if (!path || /[\0\n]/.test(path)) throw bad('no usable PATH');
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw bad(`no usable PORT (${JSON.stringify(f.PORT)})`);
  if (!f.PRIVATEKEY) throw bad('no PRIVATEKEY');
  return { host: host.replace(/^\[|\]$/g, ''), port, login, path, key: normaliseKey(f.PRIVATEKEY) };
}

/** <root>/<user>/<server>; the default server is "_default" (no server name has an underscore). */
export function mountpointFor(dm: SshDataMount, remoteUser: string, serverName: string): string {
  return `${dm.root.replace(/\/+$/, '')}/${remoteUser}/${serverName || '_default'}`;
}

function runMount(conn: HostConnection, adminPrefix: string[], python: string, req: Record<string, unknown>): Promise<Record<string, unknown>> {
  return conn.exec(commandLine([...adminPrefix, python, '-c', MOUNT]), { input: `${JSON.stringify(req)}\n` }).then((res) => {
    const line = res.stdout.split('\n').find((l) => l.trim());
    if (!line) throw new SpawnError(`Your data cannot be mounted on ${conn.host.name}: the mount helper failed (exit ${res.code}): ${res.stderr.trim().split('\n').pop() ?? ''}`);
    return JSON.parse(line) as Record<string, unknown>;
  });
}

export async function mountData(conn: HostConnection, adminPrefix: string[], python: string, dm: SshDataMount, user: string, mountpoint: string, r: DataMountRequest): Promise<void> {
  const answer = await runMount(conn, adminPrefix, python, {
    op: 'mount',
    root: dm.root,
    mountpoint,
    user,
    host: r.host,
    port: r.port,
    login: r.login,
    path: r.path,
    key: r.key,
    hostKeys: dm.hostKeys,
    knownHostsFile: dm.knownHostsFile,
    readOnly: dm.readOnly,
    sshfs: dm.sshfs,
    timeout: dm.timeoutSeconds,
  });
  if (typeof answer.mountpoint === 'string') return;
  const stderr = String(answer.error ?? '');
  const why = stderr.includes('refusing') ? stderr : explainFailure({ host: r.host, port: r.port, user: r.login, remotePath: r.path } as Parameters<typeof explainFailure>[0], stderr, typeof answer.code === 'number' ? answer.code : null);
  throw new SpawnError(`Your data could not be mounted on ${conn.host.name}: ${why}`, stderr);
}

/** Unmount and remove the mount folder and its key; resolves false when it is still mounted. */
export async function unmountData(conn: HostConnection, adminPrefix: string[], python: string, dm: SshDataMount, mountpoint: string): Promise<boolean> {
  const answer = await runMount(conn, adminPrefix, python, { op: 'umount', root: dm.root, mountpoint });
  return answer.ok === true;
}
