/**
 * The failure hints of the spawn-pending page, against the messages the spawners really produce
 * (the strings below are the spawners' own formats, with the backend texts Docker Engine and Slurm
 * print). Each hint is checked for the failure it is for, and unknown failures get none.
 */
import { describe, expect, it } from 'vitest';
import { classifyError } from '../../src/hub/error-classify.js';
import { spawnFailureHint } from '../../src/hub/spawn/failure-hints.js';
import { atriumError } from '../../src/hub/errors.js';
import { SpawnError } from '../../src/spawners/spawner.js';

const hint = (err: unknown) => spawnFailureHint(classifyError(err));

describe('spawnFailureHint', () => {
  it('Swarm: an image the nodes do not have', () => {
    expect(hint(new SpawnError('No such image: jupyter/missing:1', 'task x rejected: No such image: jupyter/missing:1'))).toMatch(/image .* does not exist on the cluster/);
    expect(hint(new SpawnError('Docker refused the server: pull access denied for nosuch, repository does not exist or may require \'docker login\''))).toMatch(/does not exist on the cluster/);
  });

  it('Swarm: a registry login refused (before the missing-image hint); refused without a login may be a missing image', () => {
    const refused = new SpawnError('The registry reg.example:5000 refused the login for reg.example:5000/c/p:1 (user atrium)', 'task x rejected: No such image: reg.example:5000/c/p:1; registry check: unauthorized: authentication required');
    expect(hint(refused)).toMatch(/could not log in to the registry .*images\.registries/);
    const noLogin = new SpawnError('The registry docker.io refused jupyter/typo:1 without a login: it may not exist there, or the registry needs a login (images.registries)', 'task x rejected: No such image: jupyter/typo:1');
    expect(hint(noLogin)).toMatch(/does not exist on the cluster \(or could not be pulled\)/);
  });

  it('Swarm and Slurm: no node has room', () => {
    expect(hint(new SpawnError('no suitable node (insufficient resources on 1 node)', 'task x pending: no suitable node (insufficient resources on 1 node)'))).toMatch(/No node has enough free CPU, memory or GPUs/);
    expect(hint(new SpawnError('Slurm refused the job: Requested node configuration is not available'))).toMatch(/No node has enough/);
  });

  it('Slurm: a job that ended early, a refused job, a controller that does not answer', () => {
    expect(hint(new SpawnError('Slurm job 42 ended before the server started: FAILED (NonZeroExitCode)\npython: not found', 'python: not found'))).toMatch(/batch job ended before/);
    expect(hint(new SpawnError('Slurm refused the job: invalid partition specified: gpu'))).toMatch(/Slurm did not accept the job/);
    expect(hint(new SpawnError('Slurm does not answer; cannot check where the job runs'))).toMatch(/controller is not answering/);
  });

  it('SSH: a host that is down or full', () => {
    expect(hint(new SpawnError('No SSH host could be used: node1: connect ECONNREFUSED 192.0.2.10:22'))).toMatch(/compute host could not be reached/);
    expect(hint(new SpawnError('No SSH host has room for another server right now.'))).toMatch(/compute host could not be reached or is full/);
  });

  it('local: a missing program, a program that exits', () => {
    expect(hint(new SpawnError('The server could not be started', '/opt/x/jupyterhub-singleuser: spawn /opt/x/jupyterhub-singleuser ENOENT'))).toMatch(/not installed where the hub looks/);
    expect(hint(new SpawnError('The server process exited (exit status 1) before it was listening', 'log ...'))).toMatch(/stopped right after it started/);
  });

  it('by code: timeouts, hooks, limits, bugs; nothing for a cancel or an unknown failure', () => {
    expect(hint(atriumError('ATRIUM_ERR_SPAWN_TIMEOUT', 'Server did not start within 120 seconds'))).toMatch(/longer than this hub waits/);
    expect(hint(atriumError('ATRIUM_ERR_HOOK_REFUSED', 'no account'))).toMatch(/account could not be prepared/);
    expect(hint(atriumError('ATRIUM_ERR_SPAWN_THROTTLED'))).toMatch(/Wait a minute/);
    expect(hint(new TypeError('x is undefined'))).toBe(null); // a bug outside the spawn path: HUB_INTERNAL
    expect(spawnFailureHint(classifyError(new TypeError('x'), { unexpected: 'ATRIUM_ERR_SPAWN_INTERNAL' }))).toMatch(/fault in the hub/);
    expect(hint(atriumError('ATRIUM_ERR_SPAWN_CANCELLED'))).toBe(null);
    expect(hint(new SpawnError('sshfs mount: the mount data has no HOST field'))).toBe(null);
  });
});
