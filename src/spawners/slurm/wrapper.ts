/**
 * The port wrapper that runs inside the job: `python3 -c "$ATRIUM_SLURM_WRAPPER" <server cmd…>`.
 * It travels in the job's environment (not a file on the compute node, not the script), so
 * nothing has to be installed on the nodes besides Python, which jupyterhub-singleuser needs anyway.
 *
 * Why a wrapper: the port is only known on the node. It asks the kernel for a free port, starts
 * the server with JUPYTERHUB_SERVICE_URL on that port, and reports the port only once the server
 * accepts connections (batchspawner reports before the server binds). If the server dies and
 * someone else now holds the port, it lost the pick-then-bind race: it picks again (a few times).
 * The report carries the server's own token in the Authorization header, never on a command line.
 */

export const WRAPPER_ENV = 'ATRIUM_SLURM_WRAPPER';

export const WRAPPER_PY = String.raw`
import json, os, signal, socket, subprocess, sys, time, urllib.request, urllib.error

cmd = sys.argv[1:]
bind = os.environ.get('ATRIUM_BIND_ADDRESS') or '0.0.0.0'
prefix = os.environ.get('JUPYTERHUB_SERVICE_PREFIX') or '/'
report_url = os.environ.get('ATRIUM_REPORT_URL') or (os.environ.get('JUPYTERHUB_API_URL', '').rstrip('/') + '/batchspawner')
token = os.environ.get('JUPYTERHUB_API_TOKEN', '')
family = socket.AF_INET6 if ':' in bind else socket.AF_INET
probe = {'0.0.0.0': '127.0.0.1', '::': '::1'}.get(bind, bind)
child = None

def log(msg):
    print('atrium-slurm: ' + msg, file=sys.stderr, flush=True)

def forward(sig, _frame):
    if child is not None and child.poll() is None:
        child.send_signal(sig)
    else:
        sys.exit(128 + sig)

for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1):
    signal.signal(s, forward)

def free_port():
    s = socket.socket(family, socket.SOCK_STREAM)
    s.bind((bind, 0))
    port = s.getsockname()[1]
    s.close()
    return port

def listening(port):
    try:
        socket.create_connection((probe, port), timeout=1).close()
        return True
    except OSError:
        return False

def report(port):
    body = json.dumps({'port': port, 'host': socket.gethostname()}).encode()
    last = None
    for attempt in range(30):
        req = urllib.request.Request(report_url, data=body, method='POST', headers={
            'Authorization': 'token ' + token, 'Content-Type': 'application/json'})
        try:
            with urllib.request.urlopen(req, timeout=10) as res:
                res.read()
                return True
        except urllib.error.HTTPError as e:
            if e.code < 500:
                log('the hub refused the port report: HTTP %d %s' % (e.code, e.read()[:300].decode('utf-8', 'replace')))
                return False
            last = 'HTTP %d' % e.code
        except OSError as e:
            last = str(e)
        time.sleep(min(1 + attempt, 10))
    log('could not reach the hub at %s: %s' % (report_url, last))
    return False

if not cmd:
    log('no server command')
    sys.exit(2)
host_part = '[%s]' % bind if ':' in bind else bind
for attempt in range(5):
    port = free_port()
    env = dict(os.environ)
    env['JUPYTERHUB_SERVICE_URL'] = 'http://%s:%d%s' % (host_part, port, prefix)
    env.pop('ATRIUM_SLURM_WRAPPER', None)
    child = subprocess.Popen(cmd, env=env)
    while child.poll() is None and not listening(port):
        time.sleep(0.2)
    if child.poll() is None:
        log('server listening on port %d' % port)
        if not report(port):
            child.terminate()
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
            sys.exit(1)
        sys.exit(child.wait())
    if listening(port):
        log('port %d was taken before the server bound it; picking another' % port)
        continue
    log('server exited with status %s before it listened' % child.returncode)
    sys.exit(child.returncode or 1)
log('gave up after 5 port races')
sys.exit(1)
`;
