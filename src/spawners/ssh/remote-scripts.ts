/**
 * The two small Python programs the spawner runs on a host. Both travel as `python3 -c SOURCE`:
 * their source is no secret, so it may show in a process list; everything secret (the token in the
 * server's environment) goes through the channel's stdin as one JSON line.
 *
 * LAUNCHER (as the user): starts the server in a new session (its own process group, so one
 * signal reaches all of it and a dropped SSH connection sends it no SIGHUP), prints {"pid"} at
 * once, then finds the port the server bound. The server binds port 0 itself (`--port=0`), so no
 * other process can take the port between choosing and binding it; the launcher reads it back from
 * /proc (the LISTEN sockets whose inodes the group's processes hold). It refuses a server that
 * listens on anything but loopback.
 *
 * CONTROL: poll / stop / sweep by process group, always checking the owner tag in the
 * environment first, so a recycled pid is never signalled; `find TAG` gives the group of a start
 * whose pid was never recorded (the hub died between the fork and the record).
 */

const LAUNCHER = String.raw`
import json, os, sys, time, pwd, signal
req = json.loads(sys.stdin.readline())
pw = pwd.getpwuid(os.getuid())
env = dict(req["env"])
env["HOME"] = pw.pw_dir; env["USER"] = pw.pw_name; env["LOGNAME"] = pw.pw_name; env["SHELL"] = pw.pw_shell or "/bin/sh"
lk = req.get("link")
if lk:
    # A symlink to the data mount in the home; a real file or folder of that name is the user's.
    lp = os.path.join(pw.pw_dir, lk["name"])
    if os.path.islink(lp) or not os.path.lexists(lp):
        try:
            if os.path.islink(lp): os.unlink(lp)
            os.symlink(lk["target"], lp)
        except OSError: pass
logdir = os.path.join(pw.pw_dir, ".atrium")
os.makedirs(logdir, mode=0o700, exist_ok=True)
os.chmod(logdir, 0o700)
logpath = os.path.join(logdir, req["log"])
fd = os.open(logpath, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
cwd = req["cwd"] or pw.pw_dir
pid = None
def out(o):
    try:
        sys.stdout.write(json.dumps(o) + "\n"); sys.stdout.flush()
    except BrokenPipeError:
        # The hub gave up on this start (channel closed): leave nothing running.
        if pid: os.killpg(pid, signal.SIGKILL)
        os._exit(1)
pid = os.fork()
if pid == 0:
    try:
        os.setsid()
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0); os.dup2(fd, 1); os.dup2(fd, 2)
        os.chdir(cwd)
        os.execvpe(req["cmd"][0], req["cmd"], env)
    except BaseException as e:
        os.write(2, ("atrium launcher: cannot start %s: %s\n" % (req["cmd"][0], e)).encode())
    os._exit(127)
os.close(fd)
out({"pid": pid})
def members():
    ms = []
    for d in os.listdir("/proc"):
        if not d.isdigit(): continue
        try:
            st = open("/proc/%s/stat" % d).read()
            if int(st[st.rindex(")") + 2:].split()[2]) == pid: ms.append(d)
        except (OSError, ValueError): pass
    return ms
def inodes():
    s = set()
    for m in members():
        try:
            for f in os.listdir("/proc/%s/fd" % m):
                try:
                    l = os.readlink("/proc/%s/fd/%s" % (m, f))
                    if l.startswith("socket:["): s.add(l[8:-1])
                except OSError: pass
        except OSError: pass
    return s
def listening():
    found = []
    for name in ("tcp", "tcp6"):
        try: lines = open("/proc/net/" + name).read().splitlines()[1:]
        except OSError: continue
        for ln in lines:
            p = ln.split()
            if p[3] != "0A": continue
            addr, port = p[1].split(":")
            found.append((p[9], addr, int(port, 16)))
    return found
LOOPBACK = ("0100007F", "00000000000000000000000001000000")
def tail():
    try:
        with open(logpath, "rb") as f:
            f.seek(0, 2); n = f.tell(); f.seek(max(0, n - 4000))
            return f.read().decode("utf-8", "replace")
    except OSError: return ""
deadline = time.time() + req["timeout"]
while True:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        out({"exit": os.waitstatus_to_exitcode(status), "tail": tail()}); sys.exit(0)
    ino = inodes()
    socks = [(a, p) for (i, a, p) in listening() if i in ino]
    if socks:
        bad = [a for (a, p) in socks if a not in LOOPBACK]
        if bad:
            os.killpg(pid, signal.SIGKILL)
            out({"error": "the server listens on a non-loopback address; it was killed"}); sys.exit(0)
        out({"port": socks[0][1]}); sys.exit(0)
    if time.time() > deadline:
        os.killpg(pid, signal.SIGKILL)
        out({"error": "the server did not listen within %d s" % req["timeout"], "tail": tail()}); sys.exit(0)
    time.sleep(0.1)
`;

const CONTROL = String.raw`
import os, sys, time, signal, json, pwd
KEY = b"ATRIUM_SERVER_ID="
def tag_of(pid):
    try: env = open("/proc/%s/environ" % pid, "rb").read().split(b"\0")
    except OSError: return None
    for e in env:
        if e.startswith(KEY): return e[len(KEY):].decode()
    return None
def pgrp(pid):
    try:
        st = open("/proc/%s/stat" % pid).read()
        return int(st[st.rindex(")") + 2:].split()[2])
    except (OSError, ValueError): return None
def group(pg, tag):
    return [d for d in os.listdir("/proc") if d.isdigit() and pgrp(d) == pg and tag_of(d) == tag]
op = sys.argv[1]
if op == "poll":
    print("running" if group(int(sys.argv[2]), sys.argv[3]) else "gone")
elif op == "stop":
    pg, tag, grace = int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        if not group(pg, tag): break
        if wait <= 0 and sig == signal.SIGTERM: continue
        try: os.killpg(pg, sig)
        except ProcessLookupError: break
        end = time.time() + wait
        while time.time() < end and group(pg, tag): time.sleep(0.1)
    print("gone" if not group(pg, tag) else "running")
elif op in ("sweep", "find"):
    prefix = sys.argv[2]
    # Only this host's network namespace: the servers the launcher (run by this sshd) started.
    mine = os.readlink("/proc/self/ns/net")
    for d in os.listdir("/proc"):
        if not d.isdigit() or pgrp(d) != int(d): continue
        try:
            if os.readlink("/proc/%s/ns/net" % d) != mine: continue
        except OSError: continue
        t = tag_of(d)
        if t is None or not (t == prefix if op == "find" else t.startswith(prefix)): continue
        try: user = pwd.getpwuid(os.stat("/proc/" + d).st_uid).pw_name
        except KeyError: user = str(os.stat("/proc/" + d).st_uid)
        # The server's data mount (its env names it): an orphan's mount is unmounted with it.
        try: data = [e[16:].decode() for e in open("/proc/%s/environ" % d, "rb").read().split(b"\0") if e.startswith(b"ATRIUM_DATA_DIR=")]
        except OSError: data = []
        print(json.dumps({"pgid": int(d), "tag": t, "user": user, "data": data[0] if data else None}))
`;

/** POSIX shell quoting for one word. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", "'\\''")}'`;
}

export function commandLine(words: string[]): string {
  return words.map(shellQuote).join(' ');
}

export function launcherCommand(prefix: string[], python: string): string {
  return commandLine([...prefix, python, '-c', LAUNCHER]);
}

export function controlCommand(prefix: string[], python: string, args: (string | number)[]): string {
  return commandLine([...prefix, python, '-c', CONTROL, ...args.map(String)]);
}

/** A message from the launcher. */
export type LauncherMessage =
  | { pid: number }
  | { port: number }
  | { exit: number; tail: string }
  | { error: string; tail?: string };
