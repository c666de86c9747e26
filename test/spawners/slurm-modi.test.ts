/**
 * MODI (docs/spawners/slurm.md): a notebook started by the Swarm spawner, running as the NB_UID a
 * pre-spawn hook set, submits a Slurm job as that uid — the real Docker Swarm and the real Slurm of
 * test/services, config shaped as in config/modi.yaml (SLURM_CONF in the environment, the munge
 * socket and slurm.conf bind-mounted read-only, uidFromEnv).
 *
 * The test image has no Slurm client (scripts/build-test-image.sh installs jupyterhub only), so
 * this test bind-mounts the host's client (sbatch, its libslurmfull and plugins, libmunge; host and
 * image are both Debian bookworm) where a MODI image would have it installed. The uid is `nobody`
 * (65534): the controller must know the uid, and that is the one unprivileged user every Debian
 * host and image has.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Value } from '@sinclair/typebox/value';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { swarmSpawnerKind, SwarmSpawnerOptions } from '../../src/spawners/swarm/index.js';
import type { Spawner } from '../../src/spawners/spawner.js';
import { acquireDocker, removeLeftovers, TEST_IMAGE, type DockerHandle } from '../services/docker.js';
import { startSlurm, type Slurm } from '../services/slurm.js';
import { freePort } from '../services/util.js';
import { contractContext, contractEnv, silentLog } from './contract.js';

const FIXTURES = resolve(import.meta.dirname, '../fixtures');
const LIB = '/usr/lib/x86_64-linux-gnu';
const NOBODY = 65534;
const hubId = `m${randomBytes(4).toString('hex')}`;
let handle: DockerHandle | undefined;
let slurm: Slurm;
let spawner: Spawner | null = null;

beforeAll(async () => {
  [handle, slurm] = await Promise.all([acquireDocker(), startSlurm()]);
}, 300_000);
afterAll(async () => {
  await spawner?.stop().catch(() => undefined);
  await removeLeftovers(hubId, false).catch(() => undefined);
  await handle?.release();
  await slurm?.stop();
}, 120_000);

describe('MODI: a Swarm notebook submits Slurm jobs as its own user', () => {
  it('sbatch inside the container, as NB_UID, with the mounted munge socket and slurm.conf: the job belongs to that uid', async (t) => {
    if (!existsSync('/usr/bin/sbatch') || !existsSync(`${LIB}/slurm-wlm/libslurmfull.so`)) return t.skip();
    const out = mkdtempSync(join(tmpdir(), 'atrium-modi-'));
    chmodSync(out, 0o777); // written by the container's uid
    const jobName = `modi${randomBytes(3).toString('hex')}`;
    const options = Value.Default(SwarmSpawnerOptions, {
      hubId,
      images: [{ image: TEST_IMAGE, name: 'test' }],
      // What a user does in the notebook's terminal, then the server itself.
      command: ['/bin/sh', '-c', `sbatch --parsable --job-name=${jobName} --chdir=/tmp -o /dev/null --mem=10M --wrap 'sleep 120' > /out/sbatch.out 2>&1; id -u > /out/uid; exec python3 /opt/atrium-fixtures/stub-singleuser.py`],
      hostBindAddress: '127.0.0.1',
      stopTimeoutSeconds: 2,
      uidFromEnv: true,
      environment: { SLURM_CONF: slurm.conf, HOME: '/tmp' },
      mounts: [
        { type: 'bind', source: FIXTURES, target: '/opt/atrium-fixtures', readOnly: true },
        { type: 'bind', source: out, target: '/out' },
        // slurm.conf and the munge socket (the test cluster keeps both in its own directory).
        { type: 'bind', source: slurm.dir, target: slurm.dir, readOnly: true },
        // The client a MODI image would have installed.
        { type: 'bind', source: '/usr/bin/sbatch', target: '/usr/bin/sbatch', readOnly: true },
        { type: 'bind', source: `${LIB}/slurm-wlm`, target: `${LIB}/slurm-wlm`, readOnly: true },
        { type: 'bind', source: `${LIB}/libmunge.so.2.0.0`, target: `${LIB}/libmunge.so.2`, readOnly: true },
      ],
    }) as SwarmSpawnerOptions;
    const user = `modi${randomBytes(3).toString('hex')}`;
    spawner = swarmSpawnerKind.create({ options, user: { name: user, admin: false, groups: [] }, serverName: '', log: silentLog });
    const env = { ...contractEnv(user, '', await freePort()), NB_UID: String(NOBODY), NB_GID: String(NOBODY) };
    await spawner.start(contractContext(user, '', env, AbortSignal.timeout(120_000)));

    expect(readFileSync(join(out, 'uid'), 'utf8').trim()).toBe(String(NOBODY));
    const printed = readFileSync(join(out, 'sbatch.out'), 'utf8').trim();
    expect(printed, `sbatch inside the container said: ${printed}`).toMatch(/^\d+$/);
    const listed = (await slurm.client('squeue', ['-h', '--states=all', `--jobs=${printed}`, '-o', '%j|%U|%u'])).trim();
    expect(listed).toBe(`${jobName}|${NOBODY}|nobody`);
    await slurm.client('scancel', [printed]);
    rmSync(out, { recursive: true, force: true });
  }, 300_000);
});
