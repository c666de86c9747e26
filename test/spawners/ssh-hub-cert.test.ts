/**
 * login: user-cert (source hub-ca) end to end: a real hub behind atrium-proxy spawns the real
 * jupyterhub-singleuser (Debian's jupyterhub 3.0) on a network-namespace host whose sshd accepts
 * only certificates from one user CA (TrustedUserCAKeys, AuthorizedKeysFile none) and which
 * cannot reach the hub. The hub signs a short-lived certificate for a fresh key; the browser's
 * OAuth dance and the notebook API work through both tunnels; stop leaves nothing on the host.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeSshConnections } from '../../src/spawners/ssh/index.js';
import { Browser, openNotebookThroughOAuth, startTestHub, waitFor, type TestHub } from '../hub/harness.js';
import { startTestHosts, type TestHosts } from '../services/netns.js';

let hosts: TestHosts;
let th: TestHub;

function userProcesses(): string {
  return hosts.hosts[0]!.exec('sh', ['-c', `ps -o pid=,stat=,comm= -u ${hosts.user} | awk '$2 !~ /^Z/ && $3 != "sshd"' || true`]).trim();
}

beforeAll(async () => {
  hosts = await startTestHosts(1, { userCa: true });
  th = await startTestHub({
    spawner: {
      kind: 'ssh',
      ssh: {
        login: 'user-cert',
        userCert: { source: 'hub-ca', caKeyFile: hosts.userCaKeyFile, lifetimeSeconds: 120 },
        hosts: [{ name: 'nb1', address: hosts.hosts[0]!.address }],
        knownHostsFile: hosts.knownHostsFile,
        remoteUser: hosts.user,
        cmd: ['jupyterhub-singleuser'],
        stopTimeoutSeconds: 5,
      },
      startTimeoutSeconds: 90,
      httpTimeoutSeconds: 90,
    },
  });
}, 120_000);

afterAll(async () => {
  await th?.teardown();
  await closeSshConnections();
  await hosts?.stop();
});

describe('SSH spawner in the hub with hub-signed certificates, real jupyterhub-singleuser', () => {
  it('OAuth through atrium-proxy and both tunnels, logged in with a certificate; stop leaves nothing', async () => {
    const b = new Browser(th.url);
    expect((await b.login('alice')).res.status).toBe(200);
    const admin = th.token('admin');
    await openNotebookThroughOAuth(th, b, 'alice', 120_000);
    // Only a certificate can have logged in: the host has no authorized_keys at all.
    expect(hosts.hosts[0]!.sshdLog()).toMatch(new RegExp(`Accepted publickey for ${hosts.user} .*ED25519-CERT .*ID atrium user=alice server=default`));
    expect(hosts.hosts[0]!.sshdLog()).not.toMatch(/Accepted publickey for \S+ from \S+ port \d+ ssh2: ED25519 SHA256/);

    const stop = await th.api('DELETE', '/users/alice/server', { token: admin });
    expect([202, 204]).toContain(stop.status);
    await waitFor(async () => {
      const r = await th.api('GET', '/users/alice', { token: admin });
      return ((await r.json()) as { servers: Record<string, unknown> }).servers[''] === undefined;
    }, 30_000);
    expect(userProcesses()).toBe('');
  }, 240_000);
});
