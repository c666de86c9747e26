/**
 * `atrium config check FILE`: validate without starting anything. The CLI prints `output` and
 * exits non-zero when `ok` is false.
 */
import { formatProblem, isConfigError, loadConfig, type ConfigProblem } from './loader.js';

/**
 * An unset ${VAR} is a warning (the examples in config/ can be checked on a machine that holds
 * none of their secrets); `strict` makes it an error, as it is when the hub starts.
 */
export function configCheck(path: string, env: NodeJS.ProcessEnv = process.env, opts: { strict?: boolean } = {}): { ok: boolean; output: string } {
  const warnings: ConfigProblem[] = [];
  try {
    const c = loadConfig(path, env, { unsetEnv: opts.strict ? 'error' : 'warn', warnings });
    const proxy = c.proxy.external ? `external proxy at ${c.proxy.apiUrl}` : `child proxy on ${c.proxy.ip}:${c.proxy.port}`;
    const hooks = c.hooks.length ? c.hooks.map((h) => h.kind).join(', ') : 'none';
    const n = warnings.length;
    const output = [
      ...warnings.map((w) => `${formatProblem(path, w)} (warning: the hub will not start without it)`),
      n ? `${path}: ok, ${n} warning${n === 1 ? '' : 's'}` : `${path}: ok`,
      `  authenticator: ${c.authenticator.kind}`,
      `  spawner: ${c.spawner.kind}`,
      `  hooks: ${hooks}`,
      `  hub: ${c.hub.ip}:${c.hub.port}, ${proxy}, state in ${c.hub.stateDir}`,
    ].join('\n');
    return { ok: true, output };
  } catch (e) {
    if (!isConfigError(e)) throw e;
    const n = e.problems.length;
    const w = warnings.map((x) => `${formatProblem(path, x)} (warning)\n`).join('');
    return { ok: false, output: `${w}${e.message}\n${path}: ${n} problem${n === 1 ? '' : 's'}` };
  }
}
