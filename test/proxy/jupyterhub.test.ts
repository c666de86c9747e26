/**
 * The real JupyterHub 3.0 (Debian package) driving atrium-proxy as its ConfigurableHTTPProxy:
 * start, log in with DummyAuthenticator, spawn a SimpleLocalProcessSpawner server, and reach
 * /user/NAME/api/status through the proxy after the OAuth redirects.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startProcess, type Started } from '../services/util.js';
import { Browser } from './cookie-jar.js';
import { ATRIUM_BIN, ensureBuilt } from './helpers.js';

const HAVE_JUPYTERHUB = existsSync('/usr/bin/jupyterhub') && existsSync('/usr/bin/jupyterhub-singleuser');
const TOKEN = 'jh-atrium-proxy-token';

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

describe.skipIf(!HAVE_JUPYTERHUB)('JupyterHub 3.0 with atrium-proxy', () => {
  let dir: string;
  let hub: Started;
  let ports: { port: number; hubPort: number; apiPort: number };
  let proxyPid: number | undefined;

  beforeAll(async () => {
    await ensureBuilt();
    dir = mkdtempSync(join(tmpdir(), 'jh-atrium-'));
    mkdirSync(join(dir, 'home'));
    ports = { port: await freePort(), hubPort: await freePort(), apiPort: await freePort() };
    writeFileSync(join(dir, 'jupyterhub_config.py'), `
c = get_config()  # noqa
c.JupyterHub.ip = '127.0.0.1'
c.JupyterHub.port = ${ports.port}
c.JupyterHub.hub_ip = '127.0.0.1'
c.JupyterHub.hub_port = ${ports.hubPort}
c.JupyterHub.db_url = 'sqlite:///${dir}/jupyterhub.sqlite'
c.JupyterHub.cookie_secret_file = '${dir}/cookie_secret'
c.JupyterHub.pid_file = '${dir}/jupyterhub.pid'
c.JupyterHub.authenticator_class = 'jupyterhub.auth.DummyAuthenticator'
c.JupyterHub.spawner_class = 'jupyterhub.spawner.SimpleLocalProcessSpawner'
c.SimpleLocalProcessSpawner.home_dir_template = '${dir}/home/{username}'
c.Spawner.cmd = ['/usr/bin/jupyterhub-singleuser']
c.Spawner.args = ['--allow-root']
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120
c.ConfigurableHTTPProxy.command = ['${ATRIUM_BIN}']
c.ConfigurableHTTPProxy.api_url = 'http://127.0.0.1:${ports.apiPort}'
c.ConfigurableHTTPProxy.pid_file = '${dir}/proxy.pid'
c.ConfigurableHTTPProxy.auth_token = '${TOKEN}'
`);
    hub = startProcess('/usr/bin/jupyterhub', ['-f', join(dir, 'jupyterhub_config.py'), '--no-ssl'], { cwd: dir });
    // The proxy answers 404 before the hub has added its route, so wait for the hub's own 200.
    const deadline = Date.now() + 90_000;
    for (;;) {
      const status = await fetch(`http://127.0.0.1:${ports.port}/hub/api`).then((r) => r.status, () => 0);
      if (status === 200) break;
      if (Date.now() > deadline || hub.child.exitCode !== null) {
        throw new Error(`JupyterHub did not come up (last status ${status}):\n${hub.output().slice(-4000)}`);
      }
      await sleep(250);
    }
    proxyPid = Number(readFileSync(join(dir, 'proxy.pid'), 'utf8'));
  });

  afterAll(async () => {
    await hub?.stop('SIGTERM', 20_000);
    // JupyterHub stops the proxy itself (cleanup_proxy); make sure, by the PID it recorded.
    if (proxyPid && alive(proxyPid)) {
      process.kill(proxyPid, 'SIGTERM');
      await sleep(500);
      if (alive(proxyPid)) process.kill(proxyPid, 'SIGKILL');
    }
  });

  it('starts atrium-proxy and registers the hub route', async () => {
    expect(proxyPid).toBeGreaterThan(0);
    const routes = await (await fetch(`http://127.0.0.1:${ports.apiPort}/api/routes`, { headers: { authorization: `token ${TOKEN}` } })).json();
    expect(routes['/']).toMatchObject({ hub: true, jupyterhub: true, target: `http://127.0.0.1:${ports.hubPort}` });
  });

  it('logs in, spawns a server and reaches /user/alice/api/status through the proxy', async () => {
    const browser = new Browser(`http://127.0.0.1:${ports.port}`);
    const loginPage = await browser.fetch('/hub/login');
    const html = await loginPage.text();
    expect(html).toMatch(/name="username"/);
    // JupyterHub 4+ puts an _xsrf field in the form; 3.0 has none. Send it when present.
    const xsrf = /name="_xsrf"\s+value="([^"]+)"/.exec(html)?.[1];
    const login = await browser.follow('/hub/login?next=%2Fhub%2Fspawn', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ username: 'alice', password: 'anything', ...(xsrf ? { _xsrf: xsrf } : {}) }).toString(),
    });
    await login.res.arrayBuffer();
    expect(browser.cookies.has('jupyterhub-hub-login')).toBe(true);

    // Wait for the spawn, then walk the OAuth redirects to the single-user server.
    const deadline = Date.now() + 150_000;
    let last = '';
    // The OAuth redirects may happen during the login itself (a quick spawn redirects straight to
    // the server) or in an earlier round than the one that finally gets a 200, so keep every hop.
    const allHops: string[] = [...login.hops];
    for (;;) {
      const tree = await browser.follow('/user/alice/tree');
      last = `${tree.res.status} ${tree.url} via ${tree.hops.join(' -> ')}`;
      allHops.push(...tree.hops);
      await tree.res.arrayBuffer();
      // While the spawn is pending the hub itself answers /user/alice/... (the "/" route), so
      // "done" means the single-user server's OAuth callback has set its own cookie.
      const served = tree.res.status === 200 && new URL(tree.url).pathname.startsWith('/user/alice/');
      if (served && browser.cookies.has('jupyterhub-user-alice')) break;
      if (Date.now() > deadline) throw new Error(`server never became reachable: ${last}\n${hub.output().slice(-4000)}`);
      await sleep(1000);
    }
    expect(allHops.join(' -> ')).toMatch(/oauth2\/authorize.*oauth_callback/);

    const status = await browser.follow('/user/alice/api/status');
    expect(status.res.status).toBe(200);
    expect(await status.res.json()).toHaveProperty('started');

    const routes = await (await fetch(`http://127.0.0.1:${ports.apiPort}/api/routes`, { headers: { authorization: `token ${TOKEN}` } })).json();
    expect(routes['/user/alice']).toMatchObject({ user: 'alice', jupyterhub: true });
  });
});
