// First start of a ~1 GB image, with and without preloading (issue 13's bench): time from "Start"
// to the real jupyterhub-singleuser answering /user/NAME/api/status through atrium-proxy.
//
//   (a) cold:      the image is not on the engine (removed before the round); Swarm pulls it at start.
//   (b) preloaded: the image is removed, then `atrium images preload IMAGE --wait` puts it back
//                  (timed on its own), then the user starts.
//
// Rounds interleave a and b (a b a b …), each with a fresh user. Prints every round, the medians,
// the spread (min–max), the ratio a/b, the preload's own time, and the load (`uptime`).
//
// Parts, all real and on loopback: the shared test Docker Engine in Swarm mode
// (test/services/docker.ts; started if not running), Debian's docker-registry on 127.0.0.1 (an
// insecure registry by dockerd's default for 127.0.0.0/8), the Swarm tests' singleuser image plus
// a 1 GiB layer of random bytes (so gzip cannot shrink it), an Atrium hub (dist/) with the Swarm
// spawner and preloading on, atrium-proxy.
//
// Run: npx tsc -p tsconfig.json && node --import tsx bench/images/first-start.mjs [--rounds 2] [--mb 1024] [--keep-image]
// Cleans up: the users' services, the hub and proxy (by PID), the registry (by PID) and its data,
// the bench image on the engine.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { Browser } from '../hub/browser.mjs';
import { alive, freePort, median, repo, start, stopPid, waitHttp } from '../hub/lib.mjs';
import { acquireDocker, TEST_IMAGE } from '../../test/services/docker.ts';

const run = promisify(execFile);
const argv = process.argv.slice(2);
const opt = (name, dflt) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : dflt);
const ROUNDS = Number(opt('--rounds', 2));
const MB = Number(opt('--mb', 1024));
const log = (...a) => console.error('[first-start]', new Date().toISOString().slice(11, 19), ...a);
const docker = async (args, timeoutMs = 1_800_000) => (await run('docker', args, { timeout: timeoutMs, maxBuffer: 16 << 20 })).stdout.trim();
const cleanups = [];

/** A student (bench/hub/browser.mjs): login, then Start, pending page, notebook. */
class Student extends Browser {
  /** Seconds from "Start" to the notebook's api/status answering; polls every 250 ms. */
  async timeToNotebook(deadlineS) {
    const t0 = performance.now();
    const s = await this.request('GET', '/hub/spawn');
    if (s.status >= 400) throw new Error(`Start answered ${s.status}: ${s.text.slice(0, 200)}`);
    for (;;) {
      if (performance.now() - t0 > deadlineS * 1000) throw new Error('no notebook before the deadline');
      const pending = await this.request('GET', `/hub/spawn-pending/${this.name}`);
      if (pending.status !== 200) {
        await this.follow(`/user/${this.name}/`);
        const st = await this.request('GET', `/user/${this.name}/api/status`);
        if (st.status === 200 && st.text.includes('"started"')) return (performance.now() - t0) / 1000;
        if (pending.status >= 400) throw new Error(`pending page ${pending.status}: ${pending.text.slice(0, 300)}`);
      } else if (this.failed && (await this.failed())) {
        const body = pending.text.replace(/<style[\s\S]*?<\/style>|<script[\s\S]*?<\/script>/g, '').replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ');
        throw new Error(`start failed: ${body.slice(0, 600)}`);
      }
      await sleep(250);
    }
  }
}

async function main() {
  if (!existsSync(join(repo, 'dist/cli.js'))) throw new Error('build first: npx tsc -p tsconfig.json');
  const dir = mkdtempSync(join(tmpdir(), 'atrium-bench-images-'));
  cleanups.push(() => {
    // The hub's log survives the run (small), for a failed start's reason.
    if (existsSync(join(dir, 'hub.log'))) writeFileSync(join(tmpdir(), 'atrium-bench-images-hub.log'), readFileSync(join(dir, 'hub.log')));
    rmSync(dir, { recursive: true, force: true });
  });
  const handle = await acquireDocker();
  cleanups.push(() => handle.release());

  // The registry on loopback, its data in our temp dir.
  const regPort = await freePort();
  const registry = `127.0.0.1:${regPort}`;
  writeFileSync(join(dir, 'registry.yml'), `version: 0.1\nlog: { level: warn }\nstorage: { filesystem: { rootdirectory: ${dir}/registry }, delete: { enabled: true } }\nhttp: { addr: "${registry}" }\n`);
  const reg = start('docker-registry', ['serve', join(dir, 'registry.yml')], { logFile: join(dir, 'registry.log') });
  cleanups.push(() => reg.stop());
  await waitHttp(`http://${registry}/v2/`, { timeoutMs: 30_000 });

  // The image: the singleuser test image plus one layer of random bytes.
  const image = `${registry}/bench/notebook-big:1`;
  const builder = `atrium-bench-build-${process.pid}`;
  log(`building ${image} (${TEST_IMAGE} + ${MB} MiB of random bytes)`);
  let t = performance.now();
  // Only CMD is overridden (the commit records it; the spawner replaces it anyway): the image's
  // entrypoint stays as it was.
  await docker(['run', '--name', builder, '--network', 'none', TEST_IMAGE, 'sh', '-c', `head -c ${MB}M /dev/urandom > /opt/atrium-payload`]);
  await docker(['commit', builder, image]);
  await docker(['rm', builder]);
  const sizeBytes = Number(await docker(['image', 'inspect', '--format', '{{.Size}}', image]));
  log(`built in ${((performance.now() - t) / 1000).toFixed(1)} s, ${(sizeBytes / 2 ** 30).toFixed(2)} GiB; pushing`);
  cleanups.push(() => docker(['image', 'rm', '-f', image]).catch(() => undefined));
  t = performance.now();
  await docker(['push', image]);
  const pushS = (performance.now() - t) / 1000;
  log(`pushed in ${pushS.toFixed(1)} s`);

  // The hub: Swarm spawner (that image only), preloading on (the single node is the manager).
  const [port, hubPort, apiPort] = [await freePort(), await freePort(), await freePort()];
  const hubId = `benchimg${process.pid}`;
  const stateDir = join(dir, 'state');
  const yaml = join(dir, 'atrium.yaml');
  writeFileSync(yaml, `
hub: { ip: 127.0.0.1, port: ${hubPort}, stateDir: ${stateDir} }
proxy: { ip: 127.0.0.1, port: ${port}, apiUrl: "http://127.0.0.1:${apiPort}" }
authenticator: { kind: dummy, adminUsers: [admin] }
spawner:
  kind: swarm
  startTimeoutSeconds: 900
  httpTimeoutSeconds: 300
  swarm:
    dockerUrl: unix://${handle.socket}
    hubId: ${hubId}
    images: [{ image: "${image}" }]
    command: [jupyterhub-singleuser, --allow-root]
    hostBindAddress: 127.0.0.1
    stopTimeoutSeconds: 2
images:
  enabled: true
  dockerUrl: unix://${handle.socket}
logLevel: warn
`);
  const cli = (args, opts = {}) => run(process.execPath, [join(repo, 'bin/atrium.js'), ...args], { timeout: 1_800_000, maxBuffer: 16 << 20, ...opts });
  const hub = start(process.execPath, [join(repo, 'bin/atrium.js'), 'hub', '--config', yaml], { logFile: join(dir, 'hub.log') });
  cleanups.push(async () => {
    await hub.stop(30_000);
    const pidFile = join(stateDir, 'proxy.pid');
    const proxyPid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8')) : 0;
    if (proxyPid && alive(proxyPid)) await stopPid(proxyPid);
  });
  cleanups.push(async () => {
    const ids = (await docker(['service', 'ls', '-q', '--filter', `label=atrium.hub=${hubId}`])).split('\n').filter(Boolean);
    if (ids.length) await docker(['service', 'rm', ...ids]).catch(() => undefined);
  });
  const base = `http://127.0.0.1:${port}`;
  await waitHttp(`${base}/hub/api`, { timeoutMs: 60_000 });
  const token = (await cli(['token', '--config', yaml, 'admin'])).stdout.trim().split('\n').pop();
  const api = (method, path) => fetch(`${base}/hub/api${path}`, { method, headers: { Authorization: `token ${token}` } });

  /** The image gone from the engine: no container of it left, then `image rm`. */
  const removeImage = async () => {
    for (let i = 0; i < 100; i++) {
      if (!(await docker(['ps', '-aq', '--filter', `ancestor=${image}`]))) break;
      await sleep(300);
    }
    await docker(['image', 'rm', '-f', image]).catch(() => undefined);
    if (await docker(['image', 'inspect', image]).then(() => true, () => false)) throw new Error('image still on the engine');
  };
  const stopServer = async (name) => {
    await api('DELETE', `/users/${name}/server`);
    for (let i = 0; i < 200; i++) {
      const u = await (await api('GET', `/users/${name}`)).json();
      if (!u.servers?.['']) break;
      await sleep(250);
    }
  };

  const rows = [];
  const preloadS = [];
  for (let r = 0; r < ROUNDS; r++) {
    for (const mode of ['cold', 'preloaded']) {
      const name = `${mode === 'cold' ? 'c' : 'p'}${r}`;
      await removeImage();
      if (mode === 'preloaded') {
        const t0 = performance.now();
        const out = await cli(['images', 'preload', image, '--wait', '--timeout', '1800'], { env: { ...process.env, ATRIUM_API_TOKEN: token, ATRIUM_HUB_URL: `${base}/hub/` } });
        const s = (performance.now() - t0) / 1000;
        if (!out.stdout.includes('ready on 1/1 nodes')) throw new Error(`preload did not finish:\n${out.stdout}`);
        preloadS.push(s);
        log(`round ${r} preload: ${s.toFixed(1)} s`);
        // Stop tracking it, so the next cold round's removal is not followed by a re-check.
        await api('DELETE', `/images/preload?image=${encodeURIComponent(image)}`);
      }
      const st = new Student(base, name);
      // The start ended without a server (the pending page then shows the reason).
      st.failed = async () => {
        const u = await (await api('GET', `/users/${name}`)).json();
        return !u.servers?.[''];
      };
      await st.login();
      const secs = await st.timeToNotebook(900);
      rows.push({ round: r, mode, secs });
      log(`round ${r} ${mode}: ${secs.toFixed(1)} s to notebook`);
      await stopServer(name);
    }
  }

  const spread = (xs) => `${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)}`;
  const cold = rows.filter((x) => x.mode === 'cold').map((x) => x.secs);
  const warm = rows.filter((x) => x.mode === 'preloaded').map((x) => x.secs);
  const load = (await run('uptime', [])).stdout.trim();
  const result = {
    when: new Date().toISOString(),
    imageGiB: sizeBytes / 2 ** 30,
    pushS,
    rounds: rows,
    coldMedianS: median(cold),
    preloadedMedianS: median(warm),
    ratio: median(cold) / median(warm),
    preloadMedianS: median(preloadS),
    preloadS,
    uptime: load,
    nproc: Number((await run('nproc', [])).stdout.trim()),
  };
  console.log(`\nFirst start of a ${result.imageGiB.toFixed(2)} GiB image, time from Start to /user/NAME/api/status (s)`);
  console.log(`  without preloading: median ${result.coldMedianS.toFixed(1)} (${spread(cold)}), n=${cold.length}`);
  console.log(`  after preload:      median ${result.preloadedMedianS.toFixed(1)} (${spread(warm)}), n=${warm.length}`);
  console.log(`  ratio ${result.ratio.toFixed(1)}×; the preload itself: median ${result.preloadMedianS.toFixed(1)} s (${spread(preloadS)})`);
  console.log(`  load: ${load}`);
  writeFileSync(join(repo, 'bench/images/last-run.json'), JSON.stringify(result, null, 2) + '\n');
}

async function cleanup() {
  for (const c of cleanups.reverse()) {
    try { await c(); } catch (err) { log('cleanup:', err?.message ?? err); }
  }
}

main().then(cleanup, async (err) => {
  console.error(err);
  await cleanup();
  process.exitCode = 1;
});
