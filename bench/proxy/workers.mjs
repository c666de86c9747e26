// atrium-proxy --workers: 1 KB GETs through configurable-http-proxy, atrium-proxy (one process)
// and atrium-proxy --workers 2 (and nginx as a reverse proxy when /usr/sbin/nginx exists), in
// interleaved wrk rounds. Reports req/s, p50/p99 and proxy CPU per request (utime+stime of the
// proxy's whole process tree from /proc, so the primary and the workers both count).
// "atrium --no-fast-path" is the node:http + undici path alone (the figures before the lean path).
// "--compare DIR" adds the lean path of another build (a checkout of an earlier commit with its
// own dist/, e.g. made with `git archive`) to the same rounds, as "atrium, other build (DIR)";
// "--stream-reads" adds this build with ATRIUM_PROXY_LEAN_READ=stream (target sockets read
// through 'data' events, as before decision 0026). "--only a,b" keeps the subjects whose name
// starts with one of the given words (chp, atrium, nginx...).
// --tls: the proxies terminate TLS (a self-signed RSA 2048 certificate made with openssl) and wrk
// sends "Connection: close", so every request is a new connection with a full handshake. The
// handshake costs the server (an RSA signature) far more than the client or the target, so the
// proxy itself is the bottleneck even on 2 cores: the one setting here where --workers can show
// whether one atrium-proxy uses more than one core (CHP cannot). nginx is left out in this mode.
// Run: npm run build && node bench/proxy/workers.mjs [--seconds 6] [--rounds 3] [--threads 1] [--workers 2] [--no-before]
//        [--compare DIR] [--stream-reads] [--only chp,atrium,nginx] [--tls]
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addRoutes, freePort, repo, start, waitPort, wrk } from './lib.mjs';

const args = process.argv.slice(2);
const opt = (n, d) => (args.includes(n) ? args[args.indexOf(n) + 1] : d);
const seconds = Number(opt('--seconds', 6));
const rounds = Number(opt('--rounds', 3));
const threads = Number(opt('--threads', 1));
const workers = Number(opt('--workers', 2));
const token = 'bench-token';
const procs = [];
const NGINX = '/usr/sbin/nginx';
const TLS = args.includes('--tls');

const ticks = (pid) => {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return 0;
  }
};
const children = (pid) => {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
};
/** CPU ms of a process and its children (alive ones: workers that exited are not counted). */
const treeCpuMs = (pid) => ((ticks(pid) + children(pid).reduce((a, c) => a + ticks(c), 0)) * 1000) / 100;

async function main() {
  const load0 = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const upPort = await freePort();
  procs.push(start(process.execPath, [`${repo}bench/proxy/upstream.mjs`, String(upPort)]));
  await waitPort(upPort);
  const upstream = `http://127.0.0.1:${upPort}`;
  const subjects = [];
  let tlsDir = null;
  const tlsFlags = [];
  if (TLS) {
    tlsDir = mkdtempSync(join(tmpdir(), 'bench-tls-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(tlsDir, 'key.pem'), '-out', join(tlsDir, 'cert.pem'), '-days', '1', '-subj', '/CN=127.0.0.1'], { stdio: 'ignore' });
    tlsFlags.push('--ssl-key', join(tlsDir, 'key.pem'), '--ssl-cert', join(tlsDir, 'cert.pem'));
  }
  const scheme = TLS ? 'https' : 'http';
  const wrkHeaders = TLS ? ['Connection: close'] : [];
  const flags = (port, apiPort) => ['--ip', '127.0.0.1', '--port', String(port), '--api-ip', '127.0.0.1', '--api-port', String(apiPort), '--log-level', 'info', ...tlsFlags];
  const only = opt('--only', '').split(',').filter(Boolean);
  const wanted = (name) => only.length === 0 || only.some((w) => name.startsWith(w));
  const launch = async (name, argv, env = {}) => {
    if (!wanted(name)) return;
    const [port, apiPort] = [await freePort(), await freePort()];
    const p = start(process.execPath, argv(port, apiPort), { CONFIGPROXY_AUTH_TOKEN: token, ...env });
    procs.push(p);
    await waitPort(port, 60_000);
    await waitPort(apiPort, 60_000);
    await addRoutes(apiPort, token, Array.from({ length: 10 }, (_, i) => [`/user/u${i}`, upstream]));
    subjects.push({ name, port, pid: p.pid });
  };
  await launch('chp', (p, a) => [`${repo}node_modules/configurable-http-proxy/bin/configurable-http-proxy`, ...flags(p, a)]);
  // "before": the node:http server + undici client path for every request (issue 15's baseline)
  if (!args.includes('--no-before')) await launch('atrium --no-fast-path', (p, a) => [`${repo}bin/atrium-proxy.js`, ...flags(p, a), '--no-fast-path']);
  const compare = opt('--compare', '');
  if (compare) await launch(`atrium, other build (${compare})`, (p, a) => [join(compare, 'bin/atrium-proxy.js'), ...flags(p, a)]);
  if (args.includes('--stream-reads')) {
    await launch('atrium, stream reads', (p, a) => [`${repo}bin/atrium-proxy.js`, ...flags(p, a)], { ATRIUM_PROXY_LEAN_READ: 'stream' });
  }
  await launch('atrium', (p, a) => [`${repo}bin/atrium-proxy.js`, ...flags(p, a)]);
  await launch(`atrium --workers ${workers}`, (p, a) => [`${repo}bin/atrium-proxy.js`, ...flags(p, a), '--workers', String(workers)]);
  let nginxDir = null;
  if (!wanted('nginx') || TLS) {
    // left out with --only
  } else if (existsSync(NGINX)) {
    nginxDir = mkdtempSync(join(tmpdir(), 'bench-nginx-'));
    const port = await freePort();
    writeFileSync(join(nginxDir, 'nginx.conf'), `
worker_processes 1; daemon off; pid ${nginxDir}/nginx.pid; error_log ${nginxDir}/error.log;
events { worker_connections 1024; }
http { access_log off; upstream up { server 127.0.0.1:${upPort}; keepalive 64; }
  server { listen 127.0.0.1:${port}; location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; } } }
`);
    const p = start(NGINX, ['-c', join(nginxDir, 'nginx.conf'), '-p', nginxDir]);
    procs.push(p);
    await waitPort(port);
    subjects.push({ name: 'nginx (1 worker)', port, pid: p.pid });
  } else {
    console.error(`[workers] ${NGINX} not installed: no nginx row (apt-get install nginx-light to add it)`);
  }

  for (const s of subjects) await wrk(`${scheme}://127.0.0.1:${s.port}/user/u5/warm`, { seconds: 4, threads, headers: wrkHeaders }); // JIT warm-up
  const runs = new Map(subjects.map((s) => [s.name, []]));
  for (let r = 0; r < rounds; r++) {
    // each round starts with a different subject, so none is always first (or last) in a round
    for (const s of [...subjects.slice(r % subjects.length), ...subjects.slice(0, r % subjects.length)]) {
      const c0 = treeCpuMs(s.pid);
      const w = await wrk(`${scheme}://127.0.0.1:${s.port}/user/u5/small`, { seconds, threads, headers: wrkHeaders });
      const cpu = treeCpuMs(s.pid) - c0;
      // cores: the proxy's CPU time over the round's wall time (> 1 only for several processes)
      const res = { ...w, cpuUsPerReq: +((cpu * 1000) / (w.rps * seconds)).toFixed(1), cores: +(cpu / (seconds * 1000)).toFixed(2) };
      runs.get(s.name).push(res);
      console.error(`[workers] round ${r + 1} ${s.name}: ${JSON.stringify(res)}`);
    }
  }
  const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const rng = (xs) => `${Math.min(...xs)}–${Math.max(...xs)}`;
  const base = runs.get('chp') ?? runs.get(subjects[0].name);
  const chpRps = med(base.map((r) => r.rps));
  const chpP99 = med(base.map((r) => r.p99ms));
  const lines = ['| subject | req/s median (range) | × CHP | p50 ms | p99 ms (× CHP) | proxy CPU µs/req median (range) | proxy cores used median (range) |', '|---|---|---|---|---|---|---|'];
  for (const s of subjects) {
    const rs = runs.get(s.name);
    const rps = med(rs.map((r) => r.rps));
    const p99 = med(rs.map((r) => r.p99ms));
    lines.push(`| ${s.name} | ${Math.round(rps)} (${rng(rs.map((r) => Math.round(r.rps)))}) | ${(rps / chpRps).toFixed(2)}× | ${med(rs.map((r) => r.p50ms))} | ${p99} (${(p99 / chpP99).toFixed(2)}×) | ${med(rs.map((r) => r.cpuUsPerReq))} (${rng(rs.map((r) => r.cpuUsPerReq))}) | ${med(rs.map((r) => r.cores))} (${rng(rs.map((r) => r.cores))}) |`);
  }
  console.log(`\n${new Date().toISOString()}  wrk -t${threads} -c50 -d${seconds}s${TLS ? ' over TLS, a new connection per request' : ''}, ${rounds} interleaved rounds, load ${load0} → ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}${runs.has('chp') ? '' : ` (× ${subjects[0].name}, no CHP)`}\n`);
  console.log(lines.join('\n'));
  if (nginxDir) rmSync(nginxDir, { recursive: true, force: true });
  if (tlsDir) rmSync(tlsDir, { recursive: true, force: true });
}

try {
  await main();
} finally {
  for (const p of procs.reverse()) await p.stop();
}
