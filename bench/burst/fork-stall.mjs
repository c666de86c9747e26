// What one server start costs the hub's event loop: forking from the hub process itself versus
// through the launcher (src/spawners/local/launcher.ts, decision 0024). This process is made as
// large as a hub with servers (--ballast-mb, touched so the pages are resident, default 120 MB),
// then starts N short-lived processes (`sleep 2`, detached, output to a log) both ways, interleaved
// A/B per round, while perf_hooks.monitorEventLoopDelay samples the loop every 1 ms. Prints per
// way and round: how long the start call held the loop (p50/p95/max of the synchronous part) and
// the loop delay max/p99 during the starts.
// Run: npm run build && node bench/burst/fork-stall.mjs [--n 20] [--rounds 3] [--ballast-mb 120]
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { mkdtempSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { percentile, repo } from '../hub/lib.mjs';

const argv = process.argv.slice(2);
const opt = (name, dflt) => (argv.includes(name) ? Number(argv[argv.indexOf(name) + 1]) : dflt);
const N = opt('--n', 20);
const ROUNDS = opt('--rounds', 3);
const BALLAST_MB = opt('--ballast-mb', 120);
const { launch, launchHere } = await import(join(repo, 'dist/spawners/local/launcher.js'));

const ballast = [];
for (let i = 0; i < BALLAST_MB; i++) ballast.push(Buffer.alloc(1 << 20, i));
const dir = mkdtempSync(join(tmpdir(), 'fork-stall-'));
const logPath = join(dir, 'server.log');
closeSync(openSync(logPath, 'a', 0o600));
const req = { file: '/bin/sleep', args: ['2'], env: { PATH: '/usr/bin:/bin' }, cwd: dir, logPath };

async function way(name) {
  const h = monitorEventLoopDelay({ resolution: 1 });
  const held = [];
  const exits = [];
  h.enable();
  for (let i = 0; i < N; i++) {
    const t = performance.now();
    if (name === 'hub forks') {
      const fd = openSync(logPath, 'a');
      const c = launchHere(req, fd);
      closeSync(fd);
      held.push(performance.now() - t);
      exits.push(c.exited);
    } else {
      const p = launch(req);
      held.push(performance.now() - t);
      exits.push((await p).exited);
    }
    await sleep(100); // starts come one after another, as the queue admits them
  }
  h.disable();
  await Promise.all(exits);
  return {
    way: name,
    heldP50: +percentile(held, 50).toFixed(2),
    heldP95: +percentile(held, 95).toFixed(2),
    heldMax: +Math.max(...held).toFixed(2),
    loopP99: +(h.percentile(99) / 1e6).toFixed(1),
    loopMax: +(h.max / 1e6).toFixed(1),
  };
}

// The launcher's channel does not keep a process alive while it only waits for exits (like an
// unref'd child in the hub); this bench has nothing else running, so it keeps itself alive.
const keepAlive = setInterval(() => undefined, 1000);
await launch(req).then((l) => l.exited); // the launcher's own start is not part of a start
const rows = [];
for (let r = 1; r <= ROUNDS; r++) {
  for (const name of r % 2 ? ['hub forks', 'launcher'] : ['launcher', 'hub forks']) {
    const load = readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
    rows.push({ round: r, load, rssMb: Math.round(process.memoryUsage().rss / 1048576), ...(await way(name)) });
  }
}
rmSync(dir, { recursive: true, force: true });
clearInterval(keepAlive);
console.log(`| round | load | RSS MB | way | start call holds the loop p50/p95/max ms | loop delay p99/max ms |`);
console.log(`|---|---|---|---|---|---|`);
for (const x of rows) console.log(`| ${x.round} | ${x.load} | ${x.rssMb} | ${x.way} | ${x.heldP50} / ${x.heldP95} / ${x.heldMax} | ${x.loopP99} / ${x.loopMax} |`);
process.exit(0);
