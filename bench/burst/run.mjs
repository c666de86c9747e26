// Class-start burst: N students log in through the real login form at the same moment, click
// "Start" (GET /hub/spawn), watch the pending page, and open their notebook: the OAuth redirects
// through the hub and GET /user/NAME/api/status answered by the real jupyterhub-singleuser
// (Debian jupyterhub 3.0). Subjects, one after the other in one run, each on fresh temp state:
//   jupyterhub     JupyterHub 3.0 + configurable-http-proxy, SimpleLocalProcessSpawner
//   atrium-noqueue Atrium with the start queue off and servers at the hub's priority (as before)
//   atrium-queue-nice0  Atrium with the start queue, servers at the hub's priority
//   atrium-fork    Atrium with the queue and nice +10, servers forked by the hub itself (before decision 0024)
//   atrium         Atrium as shipped (start queue: one slot per core; servers at nice +10, forked by the launcher)
// Prints per subject: time to notebook p50/p95/max, errors, hub CPU per spawn, and the latency of
// the login POST, "Start" and the pending page during the burst (p50/p95); and the same latencies
// for latecomers, students who arrive one at a time while the burst's servers start.
// Run: npm run build && node bench/burst/run.mjs [--students 60] [--only a,b] [--rounds 1] [--deadline 240]
//      [--latecomers 12] [--latecomer-every 4]
// --logins-only: no servers; per subject, --waves (3) waves of --students logins posted at the same
//      moment (new users each time, after 10 sequential warm-up logins): the login POST's p50/p95/max,
//      the hub's CPU per login (GET form + POST) and the bench client's own CPU, which shares the
//      2 cores - what the 60 simultaneous logins of a burst cost the hub alone.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Browser } from '../hub/browser.mjs';
import { alive, cpuMs, freePort, median, percentile, repo, start, stopPid, waitHttp, writeJupyterHubConfig } from '../hub/lib.mjs';

const argv = process.argv.slice(2);
const opt = (name, dflt) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : dflt);
const STUDENTS = Number(opt('--students', 60));
const ROUNDS = Number(opt('--rounds', 1));
const DEADLINE_S = Number(opt('--deadline', 240));
// Latecomers: students who arrive one by one while the class's servers start (the first 2 s after
// the burst, then one every --latecomer-every seconds). Their login / Start / pending latencies say
// how the hub answers a user *during* the burst; the burst's own students all click at the same
// instant, so theirs also contain the queueing of 60 simultaneous requests.
const LATECOMERS = Number(opt('--latecomers', 12));
const LATE_EVERY_S = Number(opt('--latecomer-every', 4));
const ONLY = opt('--only', 'jupyterhub,atrium-fork,atrium').split(',');
const LOGINS_ONLY = argv.includes('--logins-only');
const WAVES = Number(opt('--waves', 3));
const SINGLEUSER = '/usr/bin/jupyterhub-singleuser';
// The node flags the shipped launcher and systemd unit use (bin/atrium.js shebang); --node-flags '' drops them.
const HUB_NODE_FLAGS = opt('--node-flags', '--max-semi-space-size=1').split(' ').filter(Boolean);
// --cpu-prof DIR: run the Atrium hub under `node --cpu-prof` (one .cpuprofile per hub process in DIR).
const CPU_PROF = opt('--cpu-prof', '');
const log = (...a) => console.error('[burst]', ...a);
const cleanups = [];

// ---------------------------------------------------------------- subjects

async function startJupyterHub(dir) {
  const [port, hubPort, apiPort] = [await freePort(), await freePort(), await freePort()];
  mkdirSync(join(dir, 'home'));
  writeJupyterHubConfig(dir, {
    port, hubPort, apiPort,
    lines: [
      `c.SimpleLocalProcessSpawner.home_dir_template = '${dir}/home/{username}'`,
      `c.Spawner.cmd = ['${SINGLEUSER}']`,
      "c.Spawner.args = ['--allow-root']",
      `c.Spawner.start_timeout = ${DEADLINE_S}`,
      `c.Spawner.http_timeout = ${DEADLINE_S}`,
      'c.JupyterHub.concurrent_spawn_limit = 0',
    ],
  });
  const hub = start('/usr/bin/jupyterhub', ['-f', join(dir, 'jupyterhub_config.py'), '--no-ssl'], { cwd: dir, logFile: join(dir, 'hub.log') });
  const stop = async () => {
    await hub.stop(60_000);
    const pidFile = join(dir, 'proxy.pid');
    const proxyPid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8')) : 0;
    if (proxyPid && alive(proxyPid)) await stopPid(proxyPid);
  };
  cleanups.push(stop);
  await waitHttp(`http://127.0.0.1:${port}/hub/api`, { timeoutMs: 120_000 });
  return { name: 'jupyterhub', label: 'JupyterHub 3.0 + CHP', hubPid: hub.pid, url: `http://127.0.0.1:${port}`, logFile: join(dir, 'hub.log'), stop };
}

function atriumStarter(name, queue, nice, launcher = true) {
  return async (dir) => {
    const [port, hubPort, apiPort] = [await freePort(), await freePort(), await freePort()];
    const stateDir = join(dir, 'state');
    const yaml = join(dir, 'atrium.yaml');
    writeFileSync(yaml, `
hub: { ip: 127.0.0.1, port: ${hubPort}, stateDir: ${stateDir} }
proxy: { ip: 127.0.0.1, port: ${port}, apiUrl: "http://127.0.0.1:${apiPort}" }
authenticator: { kind: dummy }
spawner:
  kind: local
  local: { cmd: ["${SINGLEUSER}"], homeTemplate: "${dir}/home/{username}", nice: ${nice}, launcher: ${launcher} }
  startQueue: { enabled: ${queue} }
  concurrentSpawnLimit: 0
  startTimeoutSeconds: ${DEADLINE_S}
  httpTimeoutSeconds: ${DEADLINE_S}
logLevel: warn
# The bench reads the hub's event-loop delay (prom-client's monitorEventLoopDelay) from /hub/metrics.
metrics: { authenticate: false }
`);
    const profFlags = CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', CPU_PROF] : [];
    const hub = start(process.execPath, [...HUB_NODE_FLAGS, ...profFlags, join(repo, 'bin/atrium.js'), 'hub', '--config', yaml], { logFile: join(dir, 'hub.log') });
    const stop = async () => {
      await hub.stop(60_000);
      // By design the proxy and the servers outlive the hub: stop them by the PIDs on record.
      const pidFile = join(stateDir, 'proxy.pid');
      const proxyPid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8')) : 0;
      if (proxyPid && alive(proxyPid)) await stopPid(proxyPid);
    };
    cleanups.push(stop);
    await waitHttp(`http://127.0.0.1:${port}/hub/api`, { timeoutMs: 60_000 });
    const label = `Atrium (${queue ? 'start queue' : 'no queue'}, nice ${nice}${launcher ? '' : ', forks from the hub'})`;
    return { name, label, hubPid: hub.pid, url: `http://127.0.0.1:${port}`, logFile: join(dir, 'hub.log'), stop, stateDir, metricsUrl: `http://127.0.0.1:${port}/hub/metrics` };
  };
}

const SUBJECTS = {
  jupyterhub: startJupyterHub,
  'atrium-noqueue': atriumStarter('atrium-noqueue', false, 0),
  // The queue alone, servers at the hub's priority: separates the two effects on a shared machine,
  // where nice +10 also yields to everyone else's jobs.
  'atrium-queue-nice0': atriumStarter('atrium-queue-nice0', true, 0),
  // As shipped before decision 0024: every server forked by the hub process itself.
  'atrium-fork': atriumStarter('atrium-fork', true, 10, false),
  atrium: atriumStarter('atrium', true, 10),
};

// ---------------------------------------------------------------- one student

/** One student: the browser of bench/hub/browser.mjs going through the whole class-start flow. */
class Student extends Browser {
  /** The whole flow; returns timings, or an error string. */
  async run(deadline) {
    const out = { name: this.name };
    const t0 = performance.now();
    try {
      const login = await this.login();
      out.loginMs = login.ms;
      const startRes = await this.request('GET', '/hub/spawn');
      out.startMs = startRes.ms;
      if (startRes.status >= 400) throw new Error(`Start answered ${startRes.status}: ${startRes.text.slice(0, 200)}`);
      out.pendingMs = [];
      for (;;) {
        if (performance.now() > deadline) throw new Error('deadline passed');
        const pending = await this.request('GET', `/hub/spawn-pending/${this.name}`);
        out.pendingMs.push(pending.ms);
        // Pending page answers 200 while starting; a redirect means the server is up (or the spawn ended).
        if (pending.status !== 200) {
          // The notebook page (OAuth redirects through the hub set the server's cookie), then its API.
          await this.follow(`/user/${this.name}/`);
          const status = await this.request('GET', `/user/${this.name}/api/status`);
          if (status.status === 200 && status.text.includes('"started"')) break;
          if (pending.status >= 400) throw new Error(`pending page ${pending.status}, status ${status.status}`);
        }
        await sleep(1000);
      }
      out.notebookMs = performance.now() - t0;
    } catch (err) {
      out.error = String(err?.message ?? err);
      out.notebookMs = performance.now() - t0;
    }
    return out;
  }
}

/**
 * The hub's event-loop delay p99/max in ms since the previous call (prom-client resets its
 * monitorEventLoopDelay histogram on every scrape), or null for a hub without those metrics.
 */
async function loopDelay(s) {
  if (!s.metricsUrl) return null;
  const text = await fetch(s.metricsUrl).then((r) => r.text(), () => '');
  const read = (name) => Number(new RegExp(`^atrium_hub_nodejs_eventloop_lag_${name}_seconds (\\S+)$`, 'm').exec(text)?.[1] ?? NaN) * 1000;
  return { p99: Math.round(read('p99')), max: Math.round(read('max')) };
}

/** Children of the hub whose command line is the launcher's process title. */
function launcherPids(hubPid) {
  let kids = [];
  try { kids = readFileSync(`/proc/${hubPid}/task/${hubPid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number); } catch { return []; }
  return kids.filter((pid) => {
    try { return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('atrium-launcher'); } catch { return false; }
  });
}

async function burst(s) {
  const names = Array.from({ length: STUDENTS }, (_, i) => `s${String(i).padStart(3, '0')}`);
  await loopDelay(s); // resets the histogram: what the next read reports is the burst's
  const loadAtStart = readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
  const cpu0 = cpuMs(s.hubPid);
  const t0 = performance.now();
  const deadline = t0 + DEADLINE_S * 1000;
  const late = Array.from({ length: LATECOMERS }, (_, i) =>
    sleep(2000 + i * LATE_EVERY_S * 1000).then(() => new Student(s.url, `l${String(i).padStart(3, '0')}`).run(performance.now() + DEADLINE_S * 1000)));
  const results = await Promise.all(names.map((n) => new Student(s.url, n).run(deadline)));
  const wallMs = performance.now() - t0;
  const lateResults = await Promise.all(late);
  const cpu = cpuMs(s.hubPid) - cpu0;
  // The launcher forks for the hub (decision 0024): its CPU belongs to the hub's cost. It starts
  // with the first spawn, so all of its CPU time is the burst's.
  const launcherCpu = launcherPids(s.hubPid).reduce((sum, pid) => sum + cpuMs(pid), 0);
  const loop = await loopDelay(s);
  const ok = results.filter((r) => !r.error);
  const errors = results.filter((r) => r.error);
  for (const e of [...errors, ...lateResults.filter((r) => r.error)].slice(0, 5)) log(s.name, e.name, e.error);
  const lateLogin = lateResults.filter((r) => r.loginMs !== undefined).map((r) => r.loginMs);
  const lateStart = lateResults.filter((r) => r.startMs !== undefined).map((r) => r.startMs);
  const latePend = lateResults.flatMap((r) => r.pendingMs ?? []);
  const nb = ok.map((r) => r.notebookMs / 1000);
  const q = (xs, p) => (xs.length ? +percentile(xs, p).toFixed(p === 50 ? 1 : 1) : NaN);
  const login = results.filter((r) => r.loginMs !== undefined).map((r) => r.loginMs);
  const startL = results.filter((r) => r.startMs !== undefined).map((r) => r.startMs);
  const pend = results.flatMap((r) => r.pendingMs ?? []);
  const sorted = [...nb].sort((a, b) => a - b);
  return {
    students: STUDENTS,
    loadAtStart,
    loadAtEnd: readFileSync('/proc/loadavg', 'utf8').split(' ')[0],
    ok: ok.length,
    errors: errors.length,
    firstS: sorted.length ? +sorted[0].toFixed(1) : NaN,
    p50S: q(nb, 50),
    p95S: q(nb, 95),
    maxS: sorted.length ? +sorted.at(-1).toFixed(1) : NaN,
    wallS: +(wallMs / 1000).toFixed(1),
    hubCpuMsPerSpawn: Math.round((cpu + launcherCpu) / (STUDENTS + LATECOMERS)),
    launcherCpuMsPerSpawn: Math.round(launcherCpu / (STUDENTS + LATECOMERS)),
    loginP50Ms: Math.round(median(login)),
    loginP95Ms: Math.round(percentile(login, 95)),
    startP50Ms: Math.round(median(startL)),
    startP95Ms: Math.round(percentile(startL, 95)),
    pendingP50Ms: Math.round(median(pend)),
    pendingP95Ms: Math.round(percentile(pend, 95)),
    latecomers: LATECOMERS,
    latecomersOk: lateResults.filter((r) => !r.error).length,
    lateLoginP95Ms: lateLogin.length ? Math.round(percentile(lateLogin, 95)) : null,
    lateStartP95Ms: lateStart.length ? Math.round(percentile(lateStart, 95)) : null,
    latePendingP95Ms: latePend.length ? Math.round(percentile(latePend, 95)) : null,
    lateLoginMaxMs: lateLogin.length ? Math.round(Math.max(...lateLogin)) : null,
    lateStartMaxMs: lateStart.length ? Math.round(Math.max(...lateStart)) : null,
    loopDelayP99Ms: loop?.p99 ?? null,
    loopDelayMaxMs: loop?.max ?? null,
  };
}

/** --logins-only: waves of simultaneous logins on an idle hub (no servers started). */
async function logins(s) {
  for (let i = 0; i < 10; i++) await new Browser(s.url, `w${i}`).login();
  const waves = [];
  for (let w = 0; w < WAVES; w++) {
    const browsers = Array.from({ length: STUDENTS }, (_, i) => new Browser(s.url, `v${w}x${String(i).padStart(3, '0')}`));
    const cpu0 = cpuMs(s.hubPid);
    const client0 = process.cpuUsage();
    const t0 = performance.now();
    const posts = (await Promise.all(browsers.map((b) => b.login()))).map((r) => r.ms);
    const wallMs = performance.now() - t0;
    const client = process.cpuUsage(client0);
    waves.push({ p50: Math.round(median(posts)), p95: Math.round(percentile(posts, 95)), max: Math.round(Math.max(...posts)), wallMs: Math.round(wallMs), hubCpuMsPerLogin: +((cpuMs(s.hubPid) - cpu0) / STUDENTS).toFixed(1), clientCpuMs: Math.round((client.user + client.system) / 1000) });
    await sleep(1000);
  }
  return { students: STUDENTS, loadAtStart: readFileSync('/proc/loadavg', 'utf8').split(' ')[0], waves };
}

// ---------------------------------------------------------------- report

function table(rows) {
  const cols = ['subject', 'round', 'load (1 min) start/end', 'ok/N', 'first s', 'p50 s', 'p95 s', 'max s', 'hub CPU ms/spawn', 'login p50/p95 ms', 'Start p50/p95 ms', 'pending page p50/p95 ms', 'latecomers ok, login / Start / pending p95 ms', 'hub loop delay p99/max ms'];
  const lines = [`| ${cols.join(' | ')} |`, `|${cols.map(() => '---').join('|')}|`];
  for (const r of rows) {
    const m = r.result;
    lines.push(`| ${r.label} | ${r.round} | ${m.loadAtStart} / ${m.loadAtEnd} | ${m.ok}/${m.students} | ${m.firstS} | ${m.p50S} | ${m.p95S} | ${m.maxS} | ${m.hubCpuMsPerSpawn}${m.launcherCpuMsPerSpawn ? ` (launcher ${m.launcherCpuMsPerSpawn})` : ''} | ${m.loginP50Ms} / ${m.loginP95Ms} | ${m.startP50Ms} / ${m.startP95Ms} | ${m.pendingP50Ms} / ${m.pendingP95Ms} | ${m.latecomers ? `${m.latecomersOk}/${m.latecomers}: ${m.lateLoginP95Ms} / ${m.lateStartP95Ms} / ${m.latePendingP95Ms}` : '—'} | ${m.loopDelayP99Ms ?? '—'} / ${m.loopDelayMaxMs ?? '—'} |`);
  }
  return lines.join('\n');
}

async function main() {
  if (!existsSync(join(repo, 'dist/cli.js'))) throw new Error('run `npm run build` first');
  const rows = [];
  // Rounds interleave the subjects (J, A0, A, J, A0, A, ...) so a change in machine load hits all.
  for (let round = 1; round <= ROUNDS; round++) {
    for (const name of ONLY) {
      const startFn = SUBJECTS[name];
      if (!startFn) throw new Error(`unknown subject ${name}`);
      const dir = mkdtempSync(join(tmpdir(), `bench-burst-${name}-`));
      log(`round ${round}: starting ${name} in ${dir}`);
      const s = await startFn(dir);
      try {
        const result = LOGINS_ONLY ? await logins(s) : await burst(s);
        log(name, JSON.stringify(result));
        rows.push({ name, label: s.label, round, result });
      } catch (err) {
        log(`${name} failed; last log lines:\n${readFileSync(s.logFile, 'utf8').slice(-3000)}`);
        throw err;
      } finally {
        await s.stop();
        cleanups.splice(cleanups.indexOf(s.stop), 1);
        if (s.stateDir) await stopLeftovers(s.stateDir);
        if (!argv.includes('--keep')) rmSync(dir, { recursive: true, force: true });
        await sleep(2000);
      }
    }
  }
  const meta = { date: new Date().toISOString(), cpus: cpus().length, cpuModel: cpus()[0]?.model, node: process.version, students: STUDENTS, loadavg: readFileSync('/proc/loadavg', 'utf8').trim() };
  writeFileSync(join(repo, LOGINS_ONLY ? 'bench/burst/logins-last-run.json' : 'bench/burst/last-run.json'), JSON.stringify({ meta, rows }, null, 2) + '\n');
  console.log(`\n${meta.date}  ${meta.cpus} × ${meta.cpuModel}  node ${meta.node}  load ${meta.loadavg}\n`);
  console.log(LOGINS_ONLY ? loginTable(rows) : table(rows));
}

function loginTable(rows) {
  const lines = [`| subject | round | load | ${STUDENTS} simultaneous login POSTs, per wave: p50 / p95 / max ms | hub CPU ms per login (GET + POST) | bench client CPU ms per wave |`, '|---|---|---|---|---|---|'];
  for (const r of rows) {
    const w = r.result.waves;
    lines.push(`| ${r.label} | ${r.round} | ${r.result.loadAtStart} | ${w.map((x) => `${x.p50} / ${x.p95} / ${x.max}`).join('; ')} | ${w.map((x) => x.hubCpuMsPerLogin).join(', ')} | ${w.map((x) => x.clientCpuMs).join(', ')} |`);
  }
  return lines.join('\n');
}

/** Atrium's servers outlive its hub by design; stop the ones this run started, by the PIDs in its database. */
async function stopLeftovers(stateDir) {
  const db = join(stateDir, 'atrium.sqlite');
  if (!existsSync(db)) return;
  const { default: Database } = await import('better-sqlite3');
  const conn = new Database(db, { readonly: true });
  const pids = conn.prepare("SELECT state FROM servers WHERE state != '{}'").all().map((r) => JSON.parse(r.state).pid).filter(Number.isInteger);
  conn.close();
  await Promise.all(pids.map(async (pid) => {
    try { process.kill(-pid, 'SIGTERM'); } catch { /* gone */ }
    await sleep(3000);
    try { process.kill(-pid, 'SIGKILL'); } catch { /* gone */ }
  }));
}

const shutdown = async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
};
for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => void shutdown().then(() => process.exit(130)));
main().then(shutdown, async (err) => {
  console.error(err);
  await shutdown();
  process.exit(1);
});
