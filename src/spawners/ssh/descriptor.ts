/**
 * Registration of the SSH-tunnel spawner (`spawner.kind: ssh`); listed in ../kinds.ts.
 * ssh2 is imported by load() only, when this kind is configured.
 */
import type { OptionProblem } from '../../shared/kind.js';
import type { SpawnerDescriptor } from '../spawner.js';
import { SshSpawnerOptions } from './options.js';

export function checkSshOptions(options: unknown, active: boolean): OptionProblem[] {
  const o = options && typeof options === 'object' ? (options as Record<string, unknown>) : {};
  const problems: OptionProblem[] = [];
  const hosts = Array.isArray(o.hosts) ? (o.hosts as Record<string, unknown>[]) : [];
  if (active && hosts.length === 0) problems.push({ segments: ['hosts'], message: 'list at least one host' });
  const seen = new Set<unknown>();
  hosts.forEach((h, i) => {
    if (seen.has(h?.name)) problems.push({ segments: ['hosts', i, 'name'], message: `"${String(h?.name)}" is listed twice` });
    seen.add(h?.name);
  });
  const cmd = o.cmd;
  if (Array.isArray(cmd) && cmd.length === 0) problems.push({ segments: ['cmd'], message: 'must name the server command' });
  return problems;
}

export const sshSpawner = {
  name: 'ssh',
  optionsSchema: SshSpawnerOptions,
  // Servers run on remote hosts that cannot reach the hub except through the reverse tunnel.
  serversOnHubHost: false,
  validateOptions: checkSshOptions,
  load: async () => (await import('./index.js')).sshSpawnerKind,
} as const satisfies SpawnerDescriptor<SshSpawnerOptions>;
