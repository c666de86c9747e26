/**
 * The web shell into an SSH-host session: the real jupyterhub-singleuser on a network-namespace
 * host (test/services/netns.ts) that cannot reach the hub; the shell is a pty channel over the
 * hub's existing connection to that host, as the server's remote user, without the server token;
 * closing the socket leaves no shell process on the host.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeSshConnections } from '../../../src/spawners/ssh/index.js';
import { startTestHosts, type TestHosts } from '../../services/netns.js';
import { Browser, startTestHub, waitFor, type TestHub } from '../harness.js';
import { openShell, shellPage } from './shell-client.js';

describe('web shell into an SSH-host session', () => {
  let hosts: TestHosts;
  let th: TestHub;

  beforeAll(async () => {
    hosts = await startTestHosts(1);
    th = await startTestHub({
      shell: { enabled: true },
      spawner: {
        kind: 'ssh',
        ssh: {
          hosts: [{ name: 'nb1', address: hosts.hosts[0]!.address }],
          knownHostsFile: hosts.knownHostsFile,
          adminUser: 'root',
          adminKeyFile: hosts.adminKeyFile,
          userPrefix: ['runuser', '-u', '{username}', '--'],
          adminPrefix: [],
          remoteUser: hosts.user,
          cmd: ['jupyterhub-singleuser'],
          stopTimeoutSeconds: 5,
        },
        startTimeoutSeconds: 90,
        httpTimeoutSeconds: 90,
      },
    });
    th.token('alice');
    const r = await th.api('POST', '/users/alice/server', { token: th.token('admin') });
    expect(r.status).toBeLessThan(300);
    await waitFor(() => th.running.hub.spawns.get('alice', '')?.phase === 'running', 120_000, 250);
  }, 180_000);

  afterAll(async () => {
    await th?.teardown();
    await closeSshConnections();
    await hosts?.stop();
  }, 60_000);

  it('opens a login shell on the host as the server user: 42, no token, resize, gone after close', async () => {
    const b = new Browser(th.url);
    await b.login('alice');
    const { xsrf, socket } = await shellPage(b, '/hub/shell/alice');
    const r = await openShell(b, socket, { xsrf, cols: 100, rows: 30 });
    if (!r.ok) throw new Error(`refused: ${r.status} ${JSON.stringify(r.body)}`);
    const c = r.conn;
    c.input('echo "answer=$((6*7)) me=$(id -un) token=${JUPYTERHUB_API_TOKEN:-none} size=$(stty size) ✓"\r');
    await c.waitFor(new RegExp(`[\\r\\n]answer=42 me=${hosts.user} token=none size=30 100 ✓\\r?\\n`), 30_000);
    c.ws.send(JSON.stringify({ type: 'resize', cols: 111, rows: 33 }));
    c.input('stty size; sleep 600\r');
    await c.waitFor(/[\r\n]33 111\r?\n/);
    const sleeping = () => hosts.hosts[0]!.exec('sh', ['-c', `ps -o args= -u ${hosts.user} || true`]).split('\n').some((l) => /^(sleep 600|bash -l)/.test(l.trim()));
    expect(sleeping()).toBe(true);
    c.ws.close();
    await c.closed;
    await waitFor(() => !sleeping(), 10_000, 200);
    // The server itself is untouched.
    expect(await th.running.hub.spawns.get('alice', '')?.spawner?.poll()).toBeNull();
  }, 90_000);
});
