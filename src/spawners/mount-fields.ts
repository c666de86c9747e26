/**
 * The sshfs mount fields a front proxy stored in auth_state (host, path, login, key …): read by
 * the Swarm spawner for its sshfs volumes and by the SSH spawner for its data mount.
 */
import { SpawnError } from './spawner.js';

/**
 * The mount fields from auth_state[key]: an object, or a JSON string as a portal header carries
 * it; null when absent. `what` starts the message of a malformed value ("sshfs mount", …).
 */
export function mountFields(authState: Record<string, unknown> | null, key: string, what: string): Record<string, string> | null {
  let raw = authState?.[key];
  if (raw === undefined || raw === null || raw === '') return null;
  if (typeof raw === 'string') {
    try {
      raw = JSON.parse(raw);
    } catch {
      throw new SpawnError(`${what}: auth_state.${key} is not valid JSON`);
    }
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new SpawnError(`${what}: auth_state.${key} is not an object`);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) if (v !== null && v !== undefined) out[k] = String(v);
  return out;
}
