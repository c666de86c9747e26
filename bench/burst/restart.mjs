// Restart and memory with a big installation: 10,000 users and 1,000 running servers.
// The servers are cheap stand-ins: one process listening on 1,000 loopback ports (what the hub
// checks after a restart is the process record and the proxy routes, not a notebook). The rows
// are written the way the local spawner writes them, pointing at that process.
//   1. start the hub on an empty state dir: RSS when idle ("empty hub")
//   2. stop it (the proxy stays, by design), write 10k users + 1k running servers, start it
//      again once so the proxy gets the 1k routes (the steady state of a real installation)
//   3. measured restarts (--restarts, default 3): process start → first answer on the hub port,
//      → "servers restored" (every server confirmed: log time), servers stopped (must be 0),
//      RSS 2 s after the restore
// Run: npm run build && node bench/burst/restart.mjs [--users 10000] [--servers 1000] [--restarts 3]
//      [--compare-bundle] (each restart twice, interleaved: esbuild bundle and ATRIUM_NO_BUNDLE=1)
//      [--heap-snapshot FILE] (snapshot of the last hub, then: node bench/burst/heap-summary.mjs FILE)
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { alive, cpuMs, freePort, median, repo, start, stopPid, writeJupyterHubConfig } from '../hub/lib.mjs';

const argv = process.argv.slice(2);
const opt = (name, dflt) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : dflt);
const USERS = Number(opt('--users', 10_000));
const SERVERS = Number(opt('--servers', 1_000));
const RESTARTS = Number(opt('--restarts', 3));
const HEAP = opt('--heap-snapshot', '');
const COMPARE = argv.includes('--compare-bundle');
const PROBE = argv.includes('--probe');
// The node flags the shipped launcher and systemd unit use (bin/atrium.js shebang); --node-flags '' drops them.
const HUB_NODE_FLAGS = opt('--node-flags', '--max-semi-space-size=1').split(' ').filter(Boolean);
// Variants compared in one run, interleaved: --variant 'NAME|ENV=V ENV2=V|--node-flag ...' (repeatable;
// flags replace --node-flags for that variant). --compare-bundle = the bundle and ATRIUM_NO_BUNDLE=1.
const parseVariant = (spec) => {
  const [name, envs = '', flags] = spec.split('|');
  return { name, env: Object.fromEntries(envs.split(' ').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])), flags: flags === undefined ? HUB_NODE_FLAGS : flags.split(' ').filter(Boolean) };
};
const VARIANTS = argv.flatMap((a, i) => (a === '--variant' ? [parseVariant(argv[i + 1])] : []));
if (COMPARE) VARIANTS.push(parseVariant('bundle'), parseVariant('unbundled|ATRIUM_NO_BUNDLE=1'));
if (!VARIANTS.length) VARIANTS.push(parseVariant('default'));
const LATE_RSS_S = Number(opt('--late-rss', 0));
const WITH_JH = argv.includes('--jupyterhub');
const log = (...a) => console.error('[restart]', ...a);

// The stand-in: this same file, run with --stand-in PORT..., answers 200 on every port.
if (argv[0] === '--stand-in') {
  const ports = argv.slice(1).map(Number);
  let left = ports.length;
  for (const p of ports) {
    createServer((req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"stand_in":true}'))
      .listen(p, '127.0.0.1', () => --left === 0 && process.send?.('ready'));
  }
} else {
  main().catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}

const statusMb = (pid, key) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;
const rssMb = (pid) => statusMb(pid, 'VmRSS');
const startTicks = (pid) => {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[19]);
};

async function main() {
  if (!existsSync(join(repo, 'dist/cli.js'))) throw new Error('run `npm run build` first');
  const dir = mkdtempSync(join(tmpdir(), 'bench-restart-'));
  const stateDir = join(dir, 'state');
  const [port, hubPort, apiPort] = [await freePort(), await freePort(), await freePort()];
  const yaml = join(dir, 'atrium.yaml');
  writeFileSync(yaml, `
hub: { ip: 127.0.0.1, port: ${hubPort}, stateDir: ${stateDir} }
proxy: { ip: 127.0.0.1, port: ${port}, apiUrl: "http://127.0.0.1:${apiPort}" }
authenticator: { kind: dummy }
spawner: { kind: local, local: { cmd: ["${process.execPath}", "${join(repo, 'test/fixtures/stub-singleuser.mjs')}"] } }
logLevel: info
`);
  const ports = [];
  while (ports.length < SERVERS) {
    const p = await freePort();
    if (!ports.includes(p) && p !== port && p !== hubPort && p !== apiPort) ports.push(p);
  }
  const standIn = fork(new URL(import.meta.url).pathname, ['--stand-in', ...ports.map(String)], { stdio: 'ignore', detached: true });
  await new Promise((r) => standIn.once('message', r));
  let hub = null;
  const cleanupsFirst = [];
  const stopAll = async () => {
    for (const c of cleanupsFirst) await c().catch((err) => log('cleanup failed', String(err)));
    if (hub) await hub.stop(30_000);
    const pidFile = join(stateDir, 'proxy.pid');
    const proxyPid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8')) : 0;
    if (proxyPid && alive(proxyPid)) await stopPid(proxyPid);
    await stopPid(standIn.pid);
    if (!argv.includes('--keep')) rmSync(dir, { recursive: true, force: true });
  };
  for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => void stopAll().then(() => process.exit(130)));

  const logFile = (i) => join(dir, `hub-${i}.log`);
  const jh = WITH_JH ? await jupyterHubSubject(dir, ports, standIn.pid) : null;
  if (jh) cleanupsFirst.push(() => jh.stopAll());
  /** Start the hub; resolve with ms to first answer, ms to "servers restored", the restore record and RSS. */
  const startOnce = async (i, v = VARIANTS[0]) => {
    const t0 = Date.now();
    const probeFile = join(dir, `probe-${i}.json`);
    const flags = [...v.flags, ...(HEAP ? ['--heapsnapshot-signal=SIGUSR2'] : []), ...(PROBE ? ['--import', join(repo, 'bench/burst/mem-probe.mjs')] : [])];
    const env = { ...v.env, ...(PROBE ? { ATRIUM_MEM_PROBE: probeFile } : {}) };
    // ROOT=DIR in a variant's env runs another build of Atrium (e.g. the commit before a change).
    const root = v.env.ROOT ?? repo;
    hub = start(process.execPath, [...flags, join(root, 'bin/atrium.js'), 'hub', '--config', yaml], { logFile: logFile(i), cwd: dir, env });
    let answerMs = NaN;
    let answerCpuMs = NaN;
    for (;;) {
      const ok = await fetch(`http://127.0.0.1:${hubPort}/hub/api`).then((r) => r.arrayBuffer().then(() => r.status === 200), () => false);
      if (ok) { answerMs = Date.now() - t0; answerCpuMs = cpuMs(hub.pid); break; }
      if (Date.now() - t0 > 60_000) throw new Error('hub did not answer');
      await sleep(5);
    }
    let restored = null;
    while (!restored) {
      const line = existsSync(logFile(i)) && readFileSync(logFile(i), 'utf8').split('\n').find((l) => l.includes('servers restored from the database'));
      if (line) restored = JSON.parse(line);
      else await sleep(20);
      if (Date.now() - t0 > 60_000) throw new Error('no restore line');
    }
    const confirmedCpuMs = cpuMs(hub.pid);
    await sleep(2000);
    const mem = { rssMb: +rssMb(hub.pid).toFixed(1), anonMb: +statusMb(hub.pid, 'RssAnon').toFixed(1), fileMb: +statusMb(hub.pid, 'RssFile').toFixed(1) };
    if (LATE_RSS_S) {
      await sleep(LATE_RSS_S * 1000);
      mem.lateRssMb = +rssMb(hub.pid).toFixed(1);
    }
    const probe = PROBE && existsSync(probeFile) ? JSON.parse(readFileSync(probeFile, 'utf8')) : undefined;
    const lines = readFileSync(logFile(i), 'utf8').split('\n');
    const proxy = lines.map((l) => /"how":"(\w+)"/.exec(l)?.[1]).find(Boolean) ?? '?';
    const token = readFileSync(join(stateDir, 'proxy-token'), 'utf8').trim();
    const routes = await fetch(`http://127.0.0.1:${apiPort}/api/routes`, { headers: { authorization: `token ${token}` } }).then((r) => r.json()).then((o) => Object.keys(o).length, () => -1);
    return { variant: v.name, proxy, routes, answerMs, answerCpuMs, confirmedMs: restored.time - t0, confirmedCpuMs, restoreMs: restored.ms, restored: restored.restored, stopped: restored.stopped, ...mem, probe };
  };

  const empties = {};
  for (const [k, v] of VARIANTS.entries()) {
    empties[v.name] = await startOnce(k === 0 ? 0 : 800 + k, v);
    log(`empty hub (${v.name})`, JSON.stringify(empties[v.name]));
    await hub.stop(30_000);
  }
  const empty = empties[VARIANTS[0].name];
  const jhEmpty = jh ? await jh.startOnce('empty') : null;
  if (jh) {
    log('JupyterHub, empty', JSON.stringify(jhEmpty));
    await jh.stop();
    jh.seed(USERS, SERVERS);
    log('JupyterHub, first start with the rows', JSON.stringify(await jh.startOnce('warm')));
    await jh.stop();
  }

  // 10k users, 1k of them with a running server pointing at the stand-in.
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(join(stateDir, 'atrium.sqlite'));
  const now = new Date().toISOString();
  const ticks = startTicks(standIn.pid);
  db.transaction(() => {
    const addUser = db.prepare('INSERT OR IGNORE INTO users (name, admin, created) VALUES (?, 0, ?)');
    for (let i = 0; i < USERS; i++) addUser.run(`user${String(i).padStart(5, '0')}`, now);
    const addServer = db.prepare("INSERT INTO servers (user_id, name, status, url, state, started, last_activity, spawn_attempt) SELECT id, '', 'running', ?, ?, ?, ?, 'bench' FROM users WHERE name = ?");
    for (let i = 0; i < SERVERS; i++) {
      const state = { pid: standIn.pid, port: ports[i], ip: '127.0.0.1', startTime: Date.now(), procStartTicks: ticks, logPath: '' };
      addServer.run(`http://127.0.0.1:${ports[i]}`, JSON.stringify(state), now, now, `user${String(i).padStart(5, '0')}`);
    }
  })();
  db.close();

  const warm = await startOnce(1); // adds the 1k routes to the proxy
  log('first start with the rows (routes added)', JSON.stringify(warm));
  const runs = [];
  const jhRuns = [];
  // With --compare-bundle every restart runs both ways, the order alternating (ABBA...), so load
  // changes on a shared machine hit both variants alike.
  const plan = [];
  for (let i = 0; i < RESTARTS; i++) plan.push(...(i % 2 ? [...VARIANTS].reverse() : VARIANTS));
  for (const [i, variant] of plan.entries()) {
    if (hub) await hub.stop(30_000);
    await sleep(1000);
    const r = await startOnce(2 + i, variant);
    log(`restart ${i + 1} (${variant.name})`, JSON.stringify(r));
    runs.push(r);
    // JupyterHub restarts once after each round of the Atrium variants, with the Atrium hub stopped.
    if (jh && (i + 1) % VARIANTS.length === 0) {
      await hub.stop(30_000);
      await sleep(1000);
      const j = await jh.startOnce(`r${i}`);
      log(`JupyterHub restart`, JSON.stringify(j));
      jhRuns.push(j);
      await jh.stop();
      await sleep(1000);
      hub = null;
    }
  }
  if (HEAP && hub) {
    // A heap snapshot of the last restarted hub, summarised by constructor (heap-summary.mjs).
    process.kill(hub.pid, 'SIGUSR2');
    let file;
    for (let t = 0; t < 600 && !file; t++) {
      await sleep(100);
      file = readdirSync(dir).find((f) => f.endsWith('.heapsnapshot'));
    }
    // Written incrementally: wait until its size has not changed for 2 s.
    for (let last = -1, t = 0; file && t < 120; t++) {
      await sleep(1000);
      const size = statSync(join(dir, file)).size;
      if (size > 0 && size === last) break;
      last = size;
    }
    if (file) {
      renameSync(join(dir, file), HEAP);
      log(`heap snapshot: ${HEAP} (node bench/burst/heap-summary.mjs ${HEAP})`);
    }
  }
  const routes = await fetch(`http://127.0.0.1:${apiPort}/api/routes`, { headers: { authorization: `token ${readFileSync(join(stateDir, 'proxy-token'), 'utf8').trim()}` } }).then((r) => r.json()).catch(() => ({}));
  const lastRss = runs.at(-1).rssMb;
  await stopAll();

  const range = (f, rs = runs) => `${Math.min(...rs.map(f))}–${Math.max(...rs.map(f))}`;
  const meta = { date: new Date().toISOString(), cpus: cpus().length, node: process.version, users: USERS, servers: SERVERS, loadavg: readFileSync('/proc/loadavg', 'utf8').trim() };
  const out = { meta, empty, empties, warm, runs, proxyRoutes: Object.keys(routes).length, jupyterhub: jh ? { empty: jhEmpty, runs: jhRuns } : undefined };
  mkdirSync(join(repo, 'bench/burst'), { recursive: true });
  writeFileSync(join(repo, 'bench/burst/restart-last-run.json'), JSON.stringify(out, null, 2) + '\n');
  console.log(`\n${meta.date}  ${meta.cpus} cores  node ${meta.node}  load ${meta.loadavg}\n`);
  console.log('| figure | value (median; range over restarts) |\n|---|---|');
  console.log(`| hub RSS, empty hub, idle | ${empty.rssMb} MB |`);
  console.log(`| hub RSS after restart with ${USERS} users + ${SERVERS} servers | ${median(runs.map((r) => r.rssMb))} MB (${range((r) => r.rssMb)}); last ${lastRss} |`);
  console.log(`| restart: process start → hub answers | ${median(runs.map((r) => r.answerMs))} ms (${range((r) => r.answerMs)}) |`);
  console.log(`| restart: process start → all servers confirmed | ${median(runs.map((r) => r.confirmedMs))} ms (${range((r) => r.confirmedMs)}) |`);
  console.log(`| servers restored / stopped (per restart) | ${runs.map((r) => `${r.restored}/${r.stopped}`).join(', ')} |`);
  console.log(`| routes in the proxy at the end | ${out.proxyRoutes} |`);
  if (jh && jhRuns.length) {
    const cell = (f, rs) => `${+median(rs.map(f)).toFixed(1)} (${range(f, rs)})`;
    console.log('\n| subject | RSS MB, empty hub | RSS MB after restart | start → answers ms | start → all confirmed ms | hub CPU to confirmed ms | stopped |\n|---|---|---|---|---|---|---|');
    console.log(`| JupyterHub 3.0 | ${jhEmpty.rssMb} | ${cell((r) => r.rssMb, jhRuns)} | ${cell((r) => r.answerMs, jhRuns)} | ${cell((r) => r.confirmedMs, jhRuns)} | ${cell((r) => r.confirmedCpuMs, jhRuns)} | ${jhRuns.map((r) => r.stopped).join(', ')} |`);
    for (const v of VARIANTS) {
      const rs = runs.filter((r) => r.variant === v.name);
      console.log(`| Atrium ${v.name} | ${empties[v.name].rssMb} | ${cell((r) => r.rssMb, rs)} | ${cell((r) => r.answerMs, rs)} | ${cell((r) => r.confirmedMs, rs)} | ${cell((r) => r.confirmedCpuMs, rs)} | ${rs.map((r) => r.stopped).join(', ')} |`);
      const ratio = (f) => (median(rs.map(f)) / median(jhRuns.map(f))).toFixed(2);
      console.log(`|  ratio Atrium ${v.name} / JupyterHub | | ${ratio((r) => r.rssMb)} | ${ratio((r) => r.answerMs)} | ${ratio((r) => r.confirmedMs)} | ${ratio((r) => r.confirmedCpuMs)} | |`);
    }
  }
  if (VARIANTS.length > 1 || PROBE) {
    console.log('\n| variant | RSS MB | anon / file MB | start → answers ms | hub CPU to answer ms | start → all confirmed ms |\n|---|---|---|---|---|---|');
    for (const v of VARIANTS) {
      const rs = runs.filter((r) => r.variant === v.name);
      const cell = (f) => `${+median(rs.map(f)).toFixed(1)} (${range(f, rs)})`;
      console.log(`| ${v.name} | ${cell((r) => r.rssMb)}${LATE_RSS_S ? `; ${LATE_RSS_S} s later ${cell((r) => r.lateRssMb)}` : ''} | ${median(rs.map((r) => r.anonMb))} / ${median(rs.map((r) => r.fileMb))} | ${cell((r) => r.answerMs)} | ${cell((r) => r.answerCpuMs)} | ${cell((r) => r.confirmedMs)} |`);
      if (PROBE) for (const r of rs) console.log(`|  probe | ${JSON.stringify(r.probe)} |`);
    }
  }
}

/**
 * JupyterHub 3.0 (Debian) on the same stand-in: SimpleLocalProcessSpawner, whose restored state is
 * the pid (the stand-in's) and whose servers answer on the stand-in's ports. cleanup_servers and
 * cleanup_proxy off, so a restart keeps servers as Atrium's does. "answers" = first 200 from
 * /hub/api on the hub port; "confirmed" = its "Initialized N spawners" log line (every running
 * server polled and checked over HTTP); stopped = servers it no longer lists as running.
 */
async function jupyterHubSubject(dir, ports, standInPid) {
  const jdir = join(dir, 'jupyterhub');
  mkdirSync(jdir);
  const [port, hubPort, apiPort] = [await freePort(), await freePort(), await freePort()];
  const token = randomBytes(16).toString('hex'); // the bench service's token (admin role)
  writeJupyterHubConfig(jdir, {
    port, hubPort, apiPort, logLevel: 'INFO',
    lines: [
      'c.JupyterHub.cleanup_servers = False',
      'c.JupyterHub.cleanup_proxy = False',
      `c.JupyterHub.services = [{'name': 'bench', 'api_token': '${token}'}]`,
      "c.JupyterHub.load_roles = [{'name': 'admin', 'services': ['bench']}]",
    ],
  });
  let proc = null;
  let n = 0;
  const self = {
    async startOnce(tag) {
      const logPath = join(jdir, `jupyterhub-${tag}-${n++}.log`);
      const t0 = Date.now();
      proc = start('/usr/bin/jupyterhub', ['-f', join(jdir, 'jupyterhub_config.py'), '--no-ssl'], { cwd: jdir, logFile: logPath });
      let answerMs = NaN;
      for (;;) {
        const ok = await fetch(`http://127.0.0.1:${hubPort}/hub/api`).then((r) => r.arrayBuffer().then(() => r.status === 200), () => false);
        if (ok) { answerMs = Date.now() - t0; break; }
        if (Date.now() - t0 > 300_000) throw new Error('JupyterHub did not answer');
        await sleep(5);
      }
      let confirmedMs = NaN;
      for (;;) {
        const text = existsSync(logPath) ? readFileSync(logPath, 'utf8') : '';
        const m = /\[I (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) JupyterHub app:\d+\] Initialized (\d+) spawners/.exec(text);
        if (m) { confirmedMs = Date.parse(`${m[1].replace(' ', 'T')}Z`) - t0; break; }
        if (Date.now() - t0 > 300_000) throw new Error('JupyterHub: no "Initialized N spawners" line');
        await sleep(20);
      }
      const confirmedCpuMs = cpuMs(proc.pid);
      await sleep(2000);
      // Running = spawners that still have a server row (JupyterHub clears server_id when it
      // decides a server is gone); its API pages users 200 at a time, so the database is simpler.
      const { default: Database } = await import('better-sqlite3');
      const jdb = new Database(join(jdir, 'jupyterhub.sqlite'), { readonly: true });
      const running = jdb.prepare('SELECT count(*) AS n FROM spawners WHERE server_id IS NOT NULL').get().n;
      jdb.close();
      const rss = +rssMb(proc.pid).toFixed(1);
      return { answerMs, confirmedMs, confirmedCpuMs, running, stopped: self.seeded ? self.seeded - running : 0, rssMb: rss, anonMb: +statusMb(proc.pid, 'RssAnon').toFixed(1), fileMb: +statusMb(proc.pid, 'RssFile').toFixed(1) };
    },
    seeded: 0,
    async stop() {
      if (proc) await proc.stop(30_000);
      proc = null;
    },
    /** Users, servers and spawners rows the way JupyterHub 3.0 writes them for a running local server. */
    seed(users, servers) {
      const py = `
import sqlite3, json, uuid, datetime, sys
db = sqlite3.connect(${JSON.stringify(join(jdir, 'jupyterhub.sqlite'))})
now = datetime.datetime.utcnow().isoformat(sep=' ')
ports = json.loads(sys.argv[1])
with db:
    for i in range(${users}):
        db.execute("INSERT INTO users (name, admin, created, last_activity, cookie_id, state) VALUES (?, 0, ?, ?, ?, '{}')", (f"user{i:05d}", now, now, uuid.uuid4().hex))
    for i in range(${servers}):
        name = f"user{i:05d}"
        uid = db.execute("SELECT id FROM users WHERE name = ?", (name,)).fetchone()[0]
        sid = db.execute("INSERT INTO servers (proto, ip, port, base_url, cookie_name) VALUES ('http', '127.0.0.1', ?, ?, ?)", (ports[i], f"/user/{name}/", f"jupyterhub-user-{name}")).lastrowid
        db.execute("INSERT INTO spawners (user_id, server_id, state, name, started, last_activity, user_options) VALUES (?, ?, ?, '', ?, ?, '{}')", (uid, sid, json.dumps({"pid": ${standInPid}}), now, now))
`;
      execFileSync('python3', ['-c', py, JSON.stringify(ports.slice(0, servers))]);
      self.seeded = servers;
    },
    async stopAll() {
      await self.stop();
      const pidFile = join(jdir, 'proxy.pid');
      const chp = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8')) : 0;
      if (chp && alive(chp)) await stopPid(chp);
    },
  };
  return self;
}
