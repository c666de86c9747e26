/** The Swarm spawner's pure parts: config defaults, sizes, the options form and parseOptions, the service spec. */
import { Value } from '@sinclair/typebox/value';
import { describe, expect, it } from 'vitest';
import { buildServiceSpec, serviceNameFor } from '../../src/spawners/swarm/service-spec.js';
import { planMounts } from '../../src/spawners/swarm/mounts.js';
import { swarmSpawnerKind, SwarmSpawnerOptions, parseSizeBytes } from '../../src/spawners/swarm/index.js';
import { contractContext, contractEnv } from './contract.js';

const user = { name: 'alice', admin: false, groups: [] };
const opts = (o: Record<string, unknown> = {}) => Value.Default(SwarmSpawnerOptions, {
  images: [
    { image: 'reg/base:1', name: 'Base', description: 'Python only' },
    { image: 'reg/gpu:1', name: 'GPU', description: 'CUDA' },
  ],
  cpuChoices: [1, 2, 8],
  maxCpuLimit: 4,
  memoryChoices: ['1G', '4G', '64G'],
  maxMemoryLimit: '8G',
  ...o,
}) as SwarmSpawnerOptions;

describe('swarm options', () => {
  it('defaults validate and every key has a description', () => {
    const d = Value.Default(SwarmSpawnerOptions, {}) as SwarmSpawnerOptions;
    expect(Value.Check(SwarmSpawnerOptions, d)).toBe(true);
    expect(d.dockerUrl).toBe('unix:///var/run/docker.sock');
    expect(d.command).toEqual(['jupyterhub-singleuser']);
    for (const [k, v] of Object.entries(SwarmSpawnerOptions.properties)) expect((v as { description?: string }).description, k).toBeTruthy();
    expect(Value.Check(SwarmSpawnerOptions, { ...d, bogus: 1 })).toBe(false);
  });

  it('parses sizes like Docker does', () => {
    expect(parseSizeBytes('2G')).toBe(2 * 1024 ** 3);
    expect(parseSizeBytes('512m')).toBe(512 * 1024 ** 2);
    expect(parseSizeBytes('1.5Gi')).toBe(1.5 * 1024 ** 3);
    expect(parseSizeBytes(1000)).toBe(1000);
    expect(() => parseSizeBytes('2 potatoes')).toThrow(/invalid size/);
  });

  it('the form offers the admin image list and only choices within the limits', () => {
    const form = swarmSpawnerKind.optionsForm!(opts(), user)!;
    expect(form.fields.find((f) => f.name === 'image')!.choices).toEqual([
      { value: 'reg/base:1', label: 'Base', description: 'Python only' },
      { value: 'reg/gpu:1', label: 'GPU', description: 'CUDA' },
    ]);
    expect(form.fields.find((f) => f.name === 'cpu')!.choices!.map((c) => c.value)).toEqual(['1', '2']);
    expect(form.fields.find((f) => f.name === 'memory')!.choices!.map((c) => c.value)).toEqual(['1G', '4G']);
  });

  it('parseOptions accepts listed images only, refuses CPU and memory over the limits (clamps for environments), and names the bad field', () => {
    const parse = (input: Record<string, unknown>) => swarmSpawnerKind.parseOptions!(opts(), input, user);
    expect(parse({})).toEqual({ image: 'reg/base:1' });
    expect(parse({ image: ['GPU'], cpu: '4', memory: '8G' })).toEqual({ image: 'reg/gpu:1', cpuLimit: 4, memoryLimitBytes: 8 * 1024 ** 3 });
    // Over the admin maxima: refused with the field and the limit, not silently lowered.
    expect(() => parse({ cpu: '16' })).toThrow(/^cpu: at most 4 cores \(you asked for 16\)$/);
    expect(() => parse({ memory: '64G' })).toThrow(/^memory: at most 8G \(you asked for 64G\)$/);
    // An environment of the catalogue (hub-checked) and stored options are clamped instead.
    expect(parse({ environment: 'python-w1', cpu: 16, memory: '64G' })).toEqual({ image: 'reg/base:1', cpuLimit: 4, memoryLimitBytes: 8 * 1024 ** 3 });

    expect(() => parse({ image: 'evil/miner:latest' })).toThrow(/^image: /);
    expect(() => parse({ cpu: 'lots' })).toThrow(/^cpu: /);
    expect(() => parse({ memory: '-1' })).toThrow(/^memory: /);
  });

  it('service names are Docker-safe, distinct per user/server and hub', () => {
    const a = serviceNameFor('atrium', 'Bob.Smith@uni.edu', 'nb_1');
    expect(a).toMatch(/^[a-z0-9][a-z0-9-]{0,62}$/);
    expect(serviceNameFor('atrium', 'bob', '')).not.toBe(serviceNameFor('other', 'bob', ''));
    expect(serviceNameFor('atrium', 'a-b', '')).not.toBe(serviceNameFor('atrium', 'a', 'b'));
  });

  it('the spec carries env, uid/gid, limits, GPUs, constraints, network and restart none', () => {
    const o = opts({ network: 'notebooks', genericResources: { gpu: 1 }, placementConstraints: ['node.labels.gpu==true'], memoryReservation: '16G' });
    const env: Record<string, string> = { ...contractEnv('alice', '', 1), NB_UID: '4001', NB_GID: '100' };
    const ctx = contractContext('alice', '', env, new AbortController().signal);
    const spec = buildServiceSpec({ options: o, ctx, userOptions: { image: 'reg/gpu:1', cpuLimit: 2, memoryLimitBytes: 4 * 1024 ** 3 }, serviceName: 'atrium-alice-x', port: 8888, mounts: [] }) as any;
    const cs = spec.TaskTemplate.ContainerSpec;
    expect(cs.User).toBe('4001:100');
    expect(cs.Env).toContain('JUPYTERHUB_SERVICE_URL=http://0.0.0.0:8888/user/alice/');
    expect(cs.Env).toContain(`JUPYTERHUB_API_TOKEN=${env.JUPYTERHUB_API_TOKEN}`);
    expect(spec.TaskTemplate.Resources.Limits).toEqual({ NanoCPUs: 2e9, MemoryBytes: 4 * 1024 ** 3 });
    // A reservation above the chosen limit is cut down to it.
    expect(spec.TaskTemplate.Resources.Reservations.MemoryBytes).toBe(4 * 1024 ** 3);
    expect(spec.TaskTemplate.Resources.Reservations.GenericResources).toEqual([{ DiscreteResourceSpec: { Kind: 'gpu', Value: 1 } }]);
    expect(spec.TaskTemplate.Networks).toEqual([{ Target: 'notebooks' }]);
    expect(spec.TaskTemplate.RestartPolicy).toEqual({ Condition: 'none', MaxAttempts: 0 });
    expect(spec.Labels).toMatchObject({ 'atrium.hub': 'atrium', 'atrium.user': 'alice', 'atrium.server': '' });
  });

  it('sshfs mounts are filled from auth_state and get a fresh volume name per spawn', () => {
    const o = opts({ mounts: [{ type: 'sshfs', target: '/home/jovyan/work' }, { type: 'tmpfs', target: '/scratch', sizeBytes: '1G' }] });
    const authState = { mount_data: JSON.stringify({ HOST: 'storage.example.org', USERNAME: 'alice', PATH: '/data/alice', PRIVATEKEY: 'KEY', PORT: '' }) };
    const input = { mounts: o.mounts, serviceName: 'atrium-alice-x', username: 'alice', serverName: '', authState, labels: {} };
    const a = planMounts(input);
    const b = planMounts(input);
    expect(a.mounts[0]).toMatchObject({
      Type: 'volume',
      Target: '/home/jovyan/work',
      VolumeOptions: { NoCopy: true, DriverConfig: { Name: 'atrium-sshfs', Options: { sshcmd: 'alice@storage.example.org:/data/alice', id_rsa: 'KEY' } } },
    });
    expect(a.mounts[0]!.VolumeOptions!.DriverConfig!.Options).not.toHaveProperty('port'); // empty PORT: driver default
    expect(a.mounts[1]).toEqual({ Type: 'tmpfs', Target: '/scratch', TmpfsOptions: { SizeBytes: 1024 ** 3 } });
    expect(a.ephemeralVolumes).toHaveLength(1);
    expect(a.ephemeralVolumes[0]).not.toBe(b.ephemeralVolumes[0]);
    expect(() => planMounts({ ...input, authState: { mount_data: { HOST: 'h' } } })).toThrow(/no USERNAME field/);
  });
});
