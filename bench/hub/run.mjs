// Hub benchmark: the real JupyterHub 3.0 (Debian package, with configurable-http-proxy from npm)
// and Atrium (built dist/, with its atrium-proxy child), one after the other in one run.
//   1. GET /hub/api/users/NAME with a token, 50 connections, wrk: req/s, p50/p99 (hub port
//      directly, and through the proxy)
//   2. N concurrent server starts through the API with a stub single-user server: wall time until
//      all are ready, errors, hub CPU per spawn (/proc/<pid>/stat of the hub process only), and the
//      median per-spawn latency minus the stub's own start time.
// Run: npm run build && node bench/hub/run.mjs [--seconds 10] [--spawns 100] [--only atrium|jupyterhub]
//      [--no-proxy] [--cpu-prof DIR]   (--cpu-prof: run the Atrium hub under node --cpu-prof)
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { alive, cpuMs, freePort, median, percentile, repo, start, stopPid, stubStartMs, waitHttp, wrk, writeJupyterHubConfig } from './lib.mjs';

const argv = process.argv.slice(2);
const opt = (name, dflt) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : dflt);
const SECONDS = Number(opt('--seconds', 10));
const SPAWNS = Number(opt('--spawns', 100));
const ONLY = opt('--only', '');
const VIA_PROXY = !argv.includes('--no-proxy');
const CPU_PROF = opt('--cpu-prof', '');
const POLL_MS = 100;
const STUB_NODE = join(repo, 'test/fixtures/stub-singleuser.mjs');
const STUB_PY = join(repo, 'test/fixtures/stub-singleuser.py');

const cleanups = [];
const log = (...a) => console.error('[bench]', ...a);

// ---------------------------------------------------------------- the two hubs

async function startJupyterHub(dir) {
  const [port, hubPort, apiPort] = [await freePort(), await freePort(), await freePort()];
  const token = randomBytes(16).toString('hex');
  mkdirSync(join(dir, 'home'));
  writeJupyterHubConfig(dir, {
    port, hubPort, apiPort,
    lines: [
      `c.SimpleLocalProcessSpawner.home_dir_template = '${dir}/home/{username}'`,
      `c.Spawner.cmd = ['python3', '${STUB_PY}']`,
      'c.Spawner.start_timeout = 120',
      'c.Spawner.http_timeout = 120',
      `c.JupyterHub.concurrent_spawn_limit = ${Math.max(200, SPAWNS * 2)}`,
      'c.JupyterHub.active_server_limit = 0',
      `c.JupyterHub.services = [{'name': 'bench', 'api_token': '${token}'}]`,
      "c.JupyterHub.load_roles = [{'name': 'admin', 'services': ['bench']}]",
    ],
  });
  const hub = start('/usr/bin/jupyterhub', ['-f', join(dir, 'jupyterhub_config.py'), '--no-ssl'], { cwd: dir, logFile: join(dir, 'jupyterhub.log') });
  cleanups.push(async () => {
    await hub.stop(30_000);
    const proxyPid = existsSync(join(dir, 'proxy.pid')) ? Number(readFileSync(join(dir, 'proxy.pid'), 'utf8')) : 0;
    if (proxyPid && alive(proxyPid)) await stopPid(proxyPid);
  });
  await waitHttp(`http://127.0.0.1:${port}/hub/api`, { timeoutMs: 120_000 });
  const version = await (await fetch(`http://127.0.0.1:${hubPort}/hub/api`)).json();
  return {
    name: 'jupyterhub',
    label: `JupyterHub ${version.version}`,
    hubPid: hub.pid,
    hubUrl: `http://127.0.0.1:${hubPort}`,
    publicUrl: `http://127.0.0.1:${port}`,
    token,
    stubStartMs: await stubStartMs('python3', [STUB_PY]),
    logFile: join(dir, 'jupyterhub.log'),
    stop: cleanups.at(-1),
  };
}

async function startAtrium(dir) {
  const [port, hubPort, apiPort] = [await freePort(), await freePort(), await freePort()];
  const stateDir = join(dir, 'state');
  const yaml = join(dir, 'atrium.yaml');
  writeFileSync(yaml, `
hub: { ip: 127.0.0.1, port: ${hubPort}, stateDir: ${stateDir} }
proxy: { ip: 127.0.0.1, port: ${port}, apiUrl: "http://127.0.0.1:${apiPort}" }
authenticator: { kind: dummy, adminUsers: [bench] }
spawner:
  kind: local
  local: { cmd: ["${process.execPath}", "${STUB_NODE}"], homeTemplate: "${dir}/home/{username}" }
  concurrentSpawnLimit: ${Math.max(200, SPAWNS * 2)}
  startTimeoutSeconds: 120
  httpTimeoutSeconds: 120
logLevel: warn
`);
  const nodeArgs = CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', CPU_PROF] : [];
  const hub = start(process.execPath, [...nodeArgs, join(repo, 'bin/atrium.js'), 'hub', '--config', yaml], { logFile: join(dir, 'atrium.log') });
  // Atrium's hub leaves the proxy (and user servers) running when it stops, by design: stop the
  // proxy by the PID it recorded in the state dir.
  cleanups.push(async () => {
    await hub.stop(30_000);
    const pidFile = join(stateDir, 'proxy.pid');
    const proxyPid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8')) : 0;
    if (proxyPid && alive(proxyPid)) await stopPid(proxyPid);
  });
  await waitHttp(`http://127.0.0.1:${port}/hub/api`, { timeoutMs: 60_000 });
  const token = execFileSync(process.execPath, [join(repo, 'bin/atrium.js'), 'token', '--config', yaml, 'bench'], { encoding: 'utf8' }).trim();
  const version = await (await fetch(`http://127.0.0.1:${hubPort}/hub/api`)).json();
  return {
    name: 'atrium',
    // /hub/api reports the JupyterHub API version it speaks (3.0.0); name Atrium's own version.
    label: `Atrium ${JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')).version} (API ${version.version})`,
    hubPid: hub.pid,
    hubUrl: `http://127.0.0.1:${hubPort}`,
    publicUrl: `http://127.0.0.1:${port}`,
    token,
    stubStartMs: await stubStartMs(process.execPath, [STUB_NODE]),
    logFile: join(dir, 'atrium.log'),
    stop: cleanups.at(-1),
  };
}

// ---------------------------------------------------------------- measurements

function api(s, method, path, body) {
  return fetch(`${s.hubUrl}/hub/api${path}`, {
    method,
    headers: { Authorization: `token ${s.token}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(150_000),
  });
}

async function userModel(s, name) {
  const res = await api(s, 'GET', `/users/${name}`);
  if (res.status !== 200) throw new Error(`GET /users/${name}: ${res.status} ${await res.text()}`);
  return res.json();
}

async function apiBench(s) {
  const created = await api(s, 'POST', '/users', { usernames: ['alice'] });
  await created.arrayBuffer();
  const headers = [`Authorization: token ${s.token}`];
  const out = {};
  const targets = [['direct', s.hubUrl]];
  if (VIA_PROXY) targets.push(['proxy', s.publicUrl]);
  for (const [where, base] of targets) {
    const url = `${base}/hub/api/users/alice`;
    await wrk(url, { seconds: 2, headers }); // warm-up
    const cpu0 = cpuMs(s.hubPid);
    out[where] = await wrk(url, { seconds: SECONDS, headers });
    out[where].hubCpuMsPerReq = (cpuMs(s.hubPid) - cpu0) / Math.max(1, out[where].requests);
    out[where].command = out[where].command.replace(s.token, 'TOKEN');
    log(s.name, where, JSON.stringify(out[where]));
  }
  return out;
}

/** Spawn `user`'s default server; resolves { ms, error } when ready (201, or polled ready). */
async function spawnOne(s, user) {
  const t0 = performance.now();
  try {
    const res = await api(s, 'POST', `/users/${user}/server`);
    const text = await res.text();
    if (res.status === 201) return { ms: performance.now() - t0 };
    if (res.status !== 202) return { ms: performance.now() - t0, error: `POST ${res.status} ${text.slice(0, 200)}` };
    for (;;) {
      await sleep(POLL_MS);
      const m = await userModel(s, user);
      const srv = m.servers?.[''];
      if (srv?.ready) return { ms: performance.now() - t0 };
      if (!srv || (!srv.pending && !srv.ready)) return { ms: performance.now() - t0, error: `server vanished: ${JSON.stringify(srv ?? null)}` };
      if (performance.now() - t0 > 150_000) return { ms: performance.now() - t0, error: 'timeout' };
    }
  } catch (err) {
    return { ms: performance.now() - t0, error: String(err) };
  }
}

async function stopAll(s, users) {
  await Promise.all(users.map(async (u) => {
    const res = await api(s, 'DELETE', `/users/${u}/server`);
    await res.arrayBuffer();
  }));
  const deadline = Date.now() + 120_000;
  for (const u of users) {
    for (;;) {
      const m = await userModel(s, u);
      if (!m.servers?.['']) break;
      if (Date.now() > deadline) throw new Error(`${s.name}: ${u}'s server did not stop`);
      await sleep(200);
    }
  }
}

async function spawnBench(s) {
  const users = Array.from({ length: SPAWNS }, (_, i) => `u${i}`);
  await (await api(s, 'POST', '/users', { usernames: [...users, 'warmup'] })).arrayBuffer();
  // One warm-up spawn so lazily loaded code paths are not billed to the measured run.
  const warm = await spawnOne(s, 'warmup');
  if (warm.error) throw new Error(`${s.name}: warm-up spawn failed: ${warm.error}`);
  await stopAll(s, ['warmup']);
  await sleep(1000);

  const cpu0 = cpuMs(s.hubPid);
  const t0 = performance.now();
  const results = await Promise.all(users.map((u) => spawnOne(s, u)));
  const wallMs = performance.now() - t0;
  const cpuUsed = cpuMs(s.hubPid) - cpu0;
  const errors = results.filter((r) => r.error);
  for (const e of errors.slice(0, 5)) log(s.name, 'spawn error:', e.error);
  const lat = results.filter((r) => !r.error).map((r) => r.ms);
  const out = {
    spawns: SPAWNS,
    errors: errors.length,
    wallMs: Math.round(wallMs),
    hubCpuMs: Math.round(cpuUsed),
    hubCpuMsPerSpawn: +(cpuUsed / SPAWNS).toFixed(2),
    latencyP50Ms: Math.round(median(lat)),
    latencyP99Ms: Math.round(percentile(lat, 99)),
    stubStartMs: Math.round(s.stubStartMs),
    latencyP50MinusStubMs: Math.round(median(lat) - s.stubStartMs),
  };
  log(s.name, 'spawns', JSON.stringify(out));
  await stopAll(s, users);
  return out;
}

// ---------------------------------------------------------------- report

function table(results) {
  const a = results.atrium;
  const j = results.jupyterhub;
  const r = (x, y, d = 1) => (a && j && Number.isFinite(x / y) ? `${(x / y).toFixed(d)}×` : '—');
  const v = (o, f, d = 0) => (o ? (typeof f === 'function' ? f(o) : o[f]).toFixed(d) : '—');
  const rows = [['case', j?.label ?? 'JupyterHub', a?.label ?? 'Atrium', 'Atrium / JupyterHub']];
  for (const where of VIA_PROXY ? ['direct', 'proxy'] : ['direct']) {
    const tag = where === 'direct' ? 'hub port' : 'through proxy';
    const ja = j?.api[where];
    const aa = a?.api[where];
    rows.push([`GET /hub/api/users/alice, ${tag}: req/s`, v(ja, 'rps'), v(aa, 'rps'), r(aa?.rps, ja?.rps)]);
    rows.push([`  p50 latency ms`, v(ja, 'p50ms', 2), v(aa, 'p50ms', 2), r(aa?.p50ms, ja?.p50ms, 3)]);
    rows.push([`  p99 latency ms`, v(ja, 'p99ms', 2), v(aa, 'p99ms', 2), r(aa?.p99ms, ja?.p99ms, 3)]);
    rows.push([`  hub CPU ms per request`, v(ja, 'hubCpuMsPerReq', 3), v(aa, 'hubCpuMsPerReq', 3), r(aa?.hubCpuMsPerReq, ja?.hubCpuMsPerReq, 3)]);
    rows.push([`  non-2xx + socket errors`, v(ja, (o) => o.non2xx + o.socketErrors), v(aa, (o) => o.non2xx + o.socketErrors), '']);
  }
  const js = j?.spawn;
  const as = a?.spawn;
  rows.push([`${SPAWNS} concurrent spawns: wall time until all ready, ms`, v(js, 'wallMs'), v(as, 'wallMs'), r(as?.wallMs, js?.wallMs, 3)]);
  rows.push([`  errors`, v(js, 'errors'), v(as, 'errors'), '']);
  rows.push([`  hub CPU per spawn, ms (target ≤ 20)`, v(js, 'hubCpuMsPerSpawn', 2), v(as, 'hubCpuMsPerSpawn', 2), r(as?.hubCpuMsPerSpawn, js?.hubCpuMsPerSpawn, 3)]);
  rows.push([`  per-spawn latency p50 / p99, ms`, js ? `${js.latencyP50Ms} / ${js.latencyP99Ms}` : '—', as ? `${as.latencyP50Ms} / ${as.latencyP99Ms}` : '—', r(as?.latencyP50Ms, js?.latencyP50Ms, 3)]);
  rows.push([`  stub's own start time (median of 10), ms`, v(js, 'stubStartMs'), v(as, 'stubStartMs'), '']);
  rows.push([`  latency p50 minus stub start, ms`, v(js, 'latencyP50MinusStubMs'), v(as, 'latencyP50MinusStubMs'), r(as?.latencyP50MinusStubMs, js?.latencyP50MinusStubMs, 3)]);
  return rows.map((row, i) => `| ${row.join(' | ')} |${i === 0 ? `\n|${row.map(() => '---').join('|')}|` : ''}`).join('\n');
}

async function main() {
  if (!existsSync(join(repo, 'dist/cli.js'))) throw new Error('run `npm run build` first');
  const results = {};
  const plan = [['jupyterhub', startJupyterHub], ['atrium', startAtrium]].filter(([n]) => !ONLY || n === ONLY);
  for (const [name, startFn] of plan) {
    const dir = mkdtempSync(join(tmpdir(), `bench-hub-${name}-`));
    log(`starting ${name} in ${dir}`);
    const s = await startFn(dir);
    try {
      results[name] = { label: s.label, api: await apiBench(s), spawn: await spawnBench(s) };
    } catch (err) {
      log(`${name} failed; last log lines:\n${readFileSync(s.logFile, 'utf8').slice(-3000)}`);
      throw err;
    } finally {
      await s.stop();
      cleanups.splice(cleanups.indexOf(s.stop), 1);
      if (!argv.includes('--keep')) rmSync(dir, { recursive: true, force: true });
    }
  }
  const meta = { date: new Date().toISOString(), cpus: cpus().length, cpuModel: cpus()[0]?.model, node: process.version, seconds: SECONDS, spawns: SPAWNS, pollMs: POLL_MS };
  // Only a full run (both hubs) replaces the recorded figures.
  if (!ONLY) writeFileSync(join(repo, 'bench/hub/last-run.json'), JSON.stringify({ meta, results }, null, 2) + '\n');
  console.log(`\n${meta.date}  ${meta.cpus} × ${meta.cpuModel}  node ${meta.node}\n`);
  console.log(table(results));
}

const shutdown = async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
};
process.once('SIGINT', () => void shutdown().then(() => process.exit(130)));
main().then(shutdown, async (err) => {
  console.error(err);
  await shutdown();
  process.exit(1);
});
