/**
 * `atrium config check FILE`: validate without starting anything. The CLI prints `output` and
 * exits non-zero when `ok` is false.
 */
import { isConfigError, loadConfig } from './loader.js';

export function configCheck(path: string, env: NodeJS.ProcessEnv = process.env): { ok: boolean; output: string } {
  try {
    const c = loadConfig(path, env);
    const proxy = c.proxy.external ? `external proxy at ${c.proxy.apiUrl}` : `child proxy on ${c.proxy.ip}:${c.proxy.port}`;
    const hooks = c.hooks.length ? c.hooks.map((h) => h.kind).join(', ') : 'none';
    const output = [
      `${path}: ok`,
      `  authenticator: ${c.authenticator.kind}`,
      `  spawner: ${c.spawner.kind}`,
      `  hooks: ${hooks}`,
      `  hub: ${c.hub.ip}:${c.hub.port}, ${proxy}, state in ${c.hub.stateDir}`,
    ].join('\n');
    return { ok: true, output };
  } catch (e) {
    if (!isConfigError(e)) throw e;
    const n = e.problems.length;
    return { ok: false, output: `${e.message}\n${path}: ${n} problem${n === 1 ? '' : 's'}` };
  }
}
