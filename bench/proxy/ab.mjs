// A/B helper for hot-path work: interleaved wrk rounds against several proxy builds (and CHP),
// with the CPU time each process used during each run (from /proc/<pid>/stat; wrk's own via the
// shell's `times`). Same load as run.mjs's 1 KB case: wrk -t1 -c50, 10 routes, /user/u5/small.
// Usage: node bench/proxy/ab.mjs [--seconds N] [--rounds N] [--path /user/u5/small] [--connections N]
//          name=path/to/dist/proxy/main.js ... [chp] [direct]
// A subject whose name ends in "-10k" gets 9,990 more routes and is measured on
// /user/many5000/srv/small (as in run.mjs), e.g. a=dist/proxy/main.js a-10k=dist/proxy/main.js
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { addRoutes, freePort, repo, start, waitPort } from './lib.mjs';

const args = process.argv.slice(2);
const opt = (name, def) => (args.includes(name) ? args[args.indexOf(name) + 1] : def);
const seconds = Number(opt('--seconds', 6));
const rounds = Number(opt('--rounds', 3));
const path = opt('--path', '/user/u5/small');
const connections = Number(opt('--connections', 50));
const specs = args.filter((a, i) => !a.startsWith('--') && !(i > 0 && args[i - 1].startsWith('--')));
const token = 'bench-token';
const procs = [];
const TICK_MS = 10; // USER_HZ 100

const cpuMs = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) * TICK_MS; // utime + stime
};

function wrkTimed(url) {
  return new Promise((resolve, reject) => {
    const cmd = `wrk -t1 -c${connections} -d${seconds}s --latency '${url}'; times`;
    execFile('sh', ['-c', cmd], (err, stdout) => {
      if (err) return reject(err);
      const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1]);
      const unit = (v, u) => Number(v) * ({ us: 0.001, ms: 1, s: 1000 }[u] ?? 1);
      const q = (p) => { const m = new RegExp(`\\s${p}%\\s+([\\d.]+)(us|ms|s)`).exec(stdout); return m ? unit(m[1], m[2]) : NaN; };
      const t = [...stdout.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60_000 + Number(m[2]) * 1000);
      const errors = Number(/Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? 0);
      resolve({ rps, p50ms: q(50), p99ms: q(99), errors, wrkCpuMs: (t[2] ?? 0) + (t[3] ?? 0) });
    });
  });
}

const machineBusyMs = () => {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3] + f[4];
  return { busy: (f.reduce((a, b) => a + b, 0) - idle) * TICK_MS };
};

async function main() {
  const upPort = await freePort();
  procs.push(start(process.execPath, [`${repo}bench/proxy/upstream.mjs`, String(upPort)]));
  await waitPort(upPort);
  const upPid = procs[0].pid;
  const upstream = `http://127.0.0.1:${upPort}`;
  const subjects = [];
  for (const spec of specs) {
    if (spec === 'direct') { subjects.push({ name: 'direct', port: upPort, pid: upPid }); continue; }
    const [name, entry] = spec === 'chp' ? ['chp', `${repo}node_modules/configurable-http-proxy/bin/configurable-http-proxy`] : spec.split('=');
    const [port, apiPort] = [await freePort(), await freePort()];
    procs.push(start(process.execPath, [entry, '--ip', '127.0.0.1', '--port', String(port), '--api-ip', '127.0.0.1', '--api-port', String(apiPort), '--log-level', 'info'], { CONFIGPROXY_AUTH_TOKEN: token }));
    await waitPort(port);
    await waitPort(apiPort);
    await addRoutes(apiPort, token, Array.from({ length: 10 }, (_, i) => [`/user/u${i}`, upstream]));
    if (name.endsWith('-10k')) await addRoutes(apiPort, token, Array.from({ length: 9_990 }, (_, i) => [`/user/many${i}/srv`, upstream]));
    subjects.push({ name, port, pid: procs.at(-1).pid });
  }
  const pathOf = (s) => (s.name.endsWith('-10k') ? path.replace('/user/u5/', '/user/many5000/srv/') : path);
  for (const s of subjects) await wrkTimed(`http://127.0.0.1:${s.port}${pathOf(s)}`); // warm-up
  const runs = new Map(subjects.map((s) => [s.name, []]));
  for (let r = 0; r < rounds; r++) {
    for (const s of subjects) {
      const p0 = cpuMs(s.pid);
      const u0 = cpuMs(upPid);
      const m0 = machineBusyMs().busy;
      const res = await wrkTimed(`http://127.0.0.1:${s.port}${pathOf(s)}`);
      const machine = machineBusyMs().busy - m0;
      const proxy = s.pid === upPid ? 0 : cpuMs(s.pid) - p0;
      const up = cpuMs(upPid) - u0;
      const row = { ...res, proxyCpu: proxy / (seconds * 1000), upstreamCpu: up / (seconds * 1000), wrkCpu: res.wrkCpuMs / (seconds * 1000), machineCpu: machine / (seconds * 1000), proxyUsPerReq: (proxy * 1000) / (res.rps * seconds) };
      runs.get(s.name).push(row);
      console.log(r, s.name.padEnd(10), `${res.rps.toFixed(0)} req/s p99 ${res.p99ms}ms err ${res.errors} | cpu (cores) proxy ${row.proxyCpu.toFixed(2)} upstream ${row.upstreamCpu.toFixed(2)} wrk ${row.wrkCpu.toFixed(2)} machine ${row.machineCpu.toFixed(2)} | proxy ${row.proxyUsPerReq.toFixed(1)} us/req`);
    }
  }
  console.log('\nmedians:');
  for (const s of subjects) {
    const list = runs.get(s.name);
    const med = (k) => list.map((x) => x[k]).sort((a, b) => a - b)[Math.floor(list.length / 2)];
    console.log(s.name.padEnd(10), `${med('rps').toFixed(0)} req/s  p99 ${med('p99ms')} ms  proxy ${med('proxyCpu').toFixed(2)} cores ${med('proxyUsPerReq').toFixed(1)} us/req  upstream ${med('upstreamCpu').toFixed(2)}  wrk ${med('wrkCpu').toFixed(2)}  machine ${med('machineCpu').toFixed(2)}`);
  }
}

try {
  await main();
} finally {
  for (const p of procs.reverse()) await p.stop();
  await sleep(10);
}
