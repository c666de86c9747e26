// Proxy benchmark: direct upstream vs configurable-http-proxy 5.x vs atrium-proxy (and the bare
// http-proxy-3 engine, for the engine decision). Run: npm run build && node bench/proxy/run.mjs
// Options: --seconds N (per wrk run, default 6), --rounds N (interleaved, median kept; default 3),
// --quick (skip the bare http-proxy-3 engine)
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { addRoutes, freePort, repo, start, waitPort, wrk, wsBench } from './lib.mjs';

const args = process.argv.slice(2);
const seconds = Number(args[args.indexOf('--seconds') + 1]) || 6;
const rounds = Number(args[args.indexOf('--rounds') + 1]) || 3;
const quick = args.includes('--quick');
const token = 'bench-token';
const procs = [];

async function main() {
  const upPort = await freePort();
  procs.push(start(process.execPath, [`${repo}bench/proxy/upstream.mjs`, String(upPort)]));
  await waitPort(upPort);
  const upstream = `http://127.0.0.1:${upPort}`;

  const subjects = [{ name: 'direct', port: upPort }];
  const launch = async (name, cmd, hasApi = true) => {
    const [port, apiPort] = [await freePort(), await freePort()];
    procs.push(start(process.execPath, cmd(port, apiPort), { CONFIGPROXY_AUTH_TOKEN: token }));
    await waitPort(port);
    if (hasApi) await waitPort(apiPort);
    subjects.push({ name, port, apiPort: hasApi ? apiPort : undefined, pid: procs.at(-1).pid });
  };
  const chpFlags = (port, apiPort) => ['--ip', '127.0.0.1', '--port', String(port), '--api-ip', '127.0.0.1', '--api-port', String(apiPort), '--log-level', 'info'];
  await launch('chp', (p, a) => [`${repo}node_modules/configurable-http-proxy/bin/configurable-http-proxy`, ...chpFlags(p, a)]);
  await launch('atrium', (p, a) => [`${repo}bin/atrium-proxy.js`, ...chpFlags(p, a)]);
  if (!quick) await launch('http-proxy-3', (p) => [`${repo}bench/proxy/engine-httpproxy3.mjs`, String(p), upstream], false);
  // Separate instances hold 10,000 routes so the 10-route and 10k-route figures are measured in
  // the same interleaved rounds, under the same background load.
  await launch('chp-10k', (p, a) => [`${repo}node_modules/configurable-http-proxy/bin/configurable-http-proxy`, ...chpFlags(p, a)]);
  await launch('atrium-10k', (p, a) => [`${repo}bin/atrium-proxy.js`, ...chpFlags(p, a)]);
  const big = subjects.filter((x) => x.name.endsWith('-10k'));
  const small = subjects.filter((x) => !x.name.endsWith('-10k'));

  const tenRoutes = Array.from({ length: 10 }, (_, i) => [`/user/u${i}`, upstream]);
  for (const s of subjects) if (s.apiPort) await addRoutes(s.apiPort, token, tenRoutes);

  // Rounds are interleaved across subjects and the median kept: the machine is shared, so a
  // burst of someone else's load should hit every subject alike rather than one of them.
  const results = {};
  const record = (name, key, value) => { (results[name] ??= {})[key] = value; console.log(name.padEnd(13), key.padEnd(12), JSON.stringify(value)); };
  const median = (runs) => {
    const by = (f) => runs.map((r) => r[f]).sort((x, y) => x - y)[Math.floor(runs.length / 2)];
    return Object.fromEntries(Object.keys(runs[0]).filter((k) => typeof runs[0][k] === 'number').map((k) => [k, by(k)]));
  };
  const interleaved = async (key, list, measure) => {
    const runs = new Map(list.map((s) => [s.name, []]));
    for (let r = 0; r < rounds; r++) {
      for (const s of list) runs.get(s.name).push(await measure(s));
    }
    for (const s of list) record(s.name, key, median(runs.get(s.name)));
  };
  const many = Array.from({ length: 9_990 }, (_, i) => [`/user/many${i}/srv`, upstream]);
  for (const s of big) await addRoutes(s.apiPort, token, many);
  const path = (s) => (s.name.endsWith('-10k') ? '/user/many5000/srv' : '/user/u5');
  for (const s of subjects) await wrk(`http://127.0.0.1:${s.port}${path(s)}/warm`, { seconds: 5 }); // JIT warm-up
  await interleaved('1KB c50', subjects, (s) => wrk(`http://127.0.0.1:${s.port}${path(s)}/small`, { seconds }));
  for (const s of big) results[s.name.replace('-10k', '')]['1KB 10k'] = results[s.name]['1KB c50'];
  await interleaved('1MB c10', small, (s) => wrk(`http://127.0.0.1:${s.port}/user/u5/large`, { seconds, connections: 10 }));
  await interleaved('ws', small, (s) => wsBench(`ws://127.0.0.1:${s.port}/user/u5/ws`));

  const ratio = (k, f) => (results.atrium[k][f] / results.chp[k][f]).toFixed(2);
  const lines = [
    `| case | direct | chp | atrium | atrium/chp |`,
    `|---|---|---|---|---|`,
    `| 1 KB GET, 50 conns: req/s | ${results.direct['1KB c50'].rps} | ${results.chp['1KB c50'].rps} | ${results.atrium['1KB c50'].rps} | ${ratio('1KB c50', 'rps')}× |`,
    `| 1 KB GET, 50 conns: p99 ms | ${results.direct['1KB c50'].p99ms} | ${results.chp['1KB c50'].p99ms} | ${results.atrium['1KB c50'].p99ms} | ${ratio('1KB c50', 'p99ms')}× |`,
    `| 1 MB GET, 10 conns: req/s | ${results.direct['1MB c10'].rps} | ${results.chp['1MB c10'].rps} | ${results.atrium['1MB c10'].rps} | ${ratio('1MB c10', 'rps')}× |`,
    `| 1 MB GET, 10 conns: p99 ms | ${results.direct['1MB c10'].p99ms} | ${results.chp['1MB c10'].p99ms} | ${results.atrium['1MB c10'].p99ms} | ${ratio('1MB c10', 'p99ms')}× |`,
    `| ws echo RTT p50 ms | ${results.direct.ws.rttP50ms.toFixed(3)} | ${results.chp.ws.rttP50ms.toFixed(3)} | ${results.atrium.ws.rttP50ms.toFixed(3)} | ${ratio('ws', 'rttP50ms')}× |`,
    `| ws echo RTT p99 ms | ${results.direct.ws.rttP99ms.toFixed(3)} | ${results.chp.ws.rttP99ms.toFixed(3)} | ${results.atrium.ws.rttP99ms.toFixed(3)} | ${ratio('ws', 'rttP99ms')}× |`,
    `| ws msgs/s, 50 sockets | ${results.direct.ws.msgsPerSec.toFixed(0)} | ${results.chp.ws.msgsPerSec.toFixed(0)} | ${results.atrium.ws.msgsPerSec.toFixed(0)} | ${ratio('ws', 'msgsPerSec')}× |`,
    `| 1 KB GET, 10,000 routes: req/s | – | ${results.chp['1KB 10k'].rps} | ${results.atrium['1KB 10k'].rps} | ${ratio('1KB 10k', 'rps')}× |`,
    `| 1 KB GET, 10,000 routes: p99 ms | – | ${results.chp['1KB 10k'].p99ms} | ${results.atrium['1KB 10k'].p99ms} | ${ratio('1KB 10k', 'p99ms')}× |`,
  ];
  if (results['http-proxy-3']) {
    const h = results['http-proxy-3'];
    lines.push('', `bare http-proxy-3 engine (keep-alive agent, one fixed target): 1 KB ${h['1KB c50'].rps} req/s, p99 ${h['1KB c50'].p99ms} ms; 1 MB ${h['1MB c10'].rps} req/s; ws p50 ${h.ws.rttP50ms.toFixed(3)} ms, ${h.ws.msgsPerSec.toFixed(0)} msgs/s`);
  }
  const change = (n) => {
    const pct = (results[n]['1KB 10k'].rps / results[n]['1KB c50'].rps - 1) * 100;
    return `${pct >= 0 ? '+' : ''}${pct.toFixed(1)}%`;
  };
  lines.push('', `10,000 routes vs 10 routes, req/s: atrium ${change('atrium')}, chp ${change('chp')}`);
  console.log('\n' + lines.join('\n'));
  const out = join(tmpdir(), 'atrium-proxy-bench.json');
  writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), seconds, results }, null, 2));
  console.log(`raw numbers: ${out}`);
}

try {
  await main();
} finally {
  for (const p of procs.reverse()) await p.stop();
  await sleep(10);
}
