/**
 * Registration of the SSH-tunnel spawner (`spawner.kind: ssh`); listed in ../kinds.ts.
 * ssh2 is imported by load() only, when this kind is configured.
 */
import type { OptionProblem } from '../../shared/kind.js';
import type { SpawnerDescriptor } from '../spawner.js';
import { SshSpawnerOptions } from './options.js';
import { regexError } from '../../shared/regex.js';
import { CERT_PATCH_FIX, certLoginUnsupported, readCaKey } from './cert-support.js';

/**
 * `files: false` (the spawner's constructor): skip what reads files or probes ssh2 — checked at
 * config check and start, and the CA key again at every signing, where a problem is a spawn
 * message rather than a constructor throw.
 */
export function checkSshOptions(options: unknown, active: boolean, files = true): OptionProblem[] {
  const o = options && typeof options === 'object' ? (options as Record<string, unknown>) : {};
  const problems: OptionProblem[] = [];
  const hosts = Array.isArray(o.hosts) ? (o.hosts as Record<string, unknown>[]) : [];
  if (active && hosts.length === 0) problems.push({ segments: ['hosts'], message: 'list at least one host' });
  const seen = new Set<unknown>();
  hosts.forEach((h, i) => {
    if (seen.has(h?.name)) problems.push({ segments: ['hosts', i, 'name'], message: `"${String(h?.name)}" is listed twice` });
    seen.add(h?.name);
  });
  const names = new Set(hosts.map((h) => h?.name));
  const rules = Array.isArray(o.hostRules) ? (o.hostRules as Record<string, unknown>[]) : [];
  rules.forEach((r, i) => {
    if (!r || typeof r !== 'object') return;
    if (r.users === undefined && r.groups === undefined) problems.push({ segments: ['hostRules', i], message: 'give users (a pattern) and/or groups; a rule for everybody is the host list itself' });
    if (typeof r.users === 'string') {
      const why = regexError(r.users);
      if (why) problems.push({ segments: ['hostRules', i, 'users'], message: why });
    }
    if (Array.isArray(r.hosts)) {
      r.hosts.forEach((h, j) => {
        if (!names.has(h)) problems.push({ segments: ['hostRules', i, 'hosts', j], message: `no host named "${String(h)}" in hosts` });
      });
    }
  });
  if (o.dataMount && (o.login === 'user-key' || o.login === 'user-cert')) {
    problems.push({ segments: ['dataMount'], message: 'the sshfs data mount is made by root through adminPrefix, which needs login: admin-sudo' });
  }
  if (active && files && o.login === 'user-cert') problems.push(...checkCertLogin(o));
  const cmd = o.cmd;
  if (Array.isArray(cmd) && cmd.length === 0) problems.push({ segments: ['cmd'], message: 'must name the server command' });
  return problems;
}

/**
 * login: user-cert at config check and start: refused when the installed ssh2 cannot log in with
 * certificates (the patch was not applied) — never a silent fallback to another login — and,
 * with source hub-ca, when the CA key cannot be used.
 */
function checkCertLogin(o: Record<string, unknown>): OptionProblem[] {
  const why = certLoginUnsupported();
  if (why) return [{ segments: ['login'], message: `login: user-cert is not available: ${why}; ${CERT_PATCH_FIX}` }];
  const uc = o.userCert && typeof o.userCert === 'object' ? (o.userCert as Record<string, unknown>) : {};
  if ((uc.source ?? 'hub-ca') !== 'hub-ca') return [];
  const ca = readCaKey(typeof uc.caKeyFile === 'string' ? uc.caKeyFile : '/etc/atrium/ssh/user_ca');
  return 'error' in ca ? [{ segments: ['userCert', 'caKeyFile'], message: ca.error }] : [];
}

export const sshSpawner = {
  name: 'ssh',
  optionsSchema: SshSpawnerOptions,
  // Servers run on remote hosts that cannot reach the hub except through the reverse tunnel.
  serversOnHubHost: false,
  validateOptions: checkSshOptions,
  load: async () => (await import('./index.js')).sshSpawnerKind,
} as const satisfies SpawnerDescriptor<SshSpawnerOptions>;
