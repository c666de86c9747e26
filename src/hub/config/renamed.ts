/**
 * Keys that were removed or renamed, or that JupyterHub admins will reach for. Each fails with
 * the key to use instead (undici's "unsupported idleTimeout, use keepAliveTimeout instead"),
 * rather than a bare "unknown key".
 */
import type { KindDescriptor } from '../../shared/kind.js';
import { authenticatorKinds } from '../../authenticators/kinds.js';
import { spawnerKinds } from '../../spawners/kinds.js';

export interface RenamedKey {
  /** Dotted path of the old key. */
  from: string;
  /** Dotted path of the replacement, or null when the setting has no equivalent. */
  to: string | null;
  /** What changed beyond the name (unit, inverted meaning). */
  note?: string;
}

const names = (kinds: readonly KindDescriptor[]) => kinds.map((k) => k.name).join(', ');

function fromKinds(section: string, kinds: readonly KindDescriptor[]): RenamedKey[] {
  return kinds.flatMap((k) => (k.renamedKeys ?? []).map((r) => ({ ...r, from: `${section}.${r.from}`, to: r.to === null ? null : `${section}.${r.to}` })));
}

export const RENAMED_KEYS: readonly RenamedKey[] = [
  { from: 'authenticator.whitelist', to: 'authenticator.allowedUsers' },
  { from: 'authenticator.blacklist', to: 'authenticator.blockedUsers' },
  { from: 'authenticator.class', to: 'authenticator.kind', note: `one of ${names(authenticatorKinds.kinds)}` },
  { from: 'authenticatorClass', to: 'authenticator.kind', note: `one of ${names(authenticatorKinds.kinds)}` },
  { from: 'spawnerClass', to: 'spawner.kind', note: `one of ${names(spawnerKinds.kinds)}` },
  { from: 'spawner.class', to: 'spawner.kind', note: `one of ${names(spawnerKinds.kinds)}` },
  { from: 'adminUsers', to: 'authenticator.adminUsers' },
  { from: 'hub.adminUsers', to: 'authenticator.adminUsers' },
  { from: 'spawner.startTimeout', to: 'spawner.startTimeoutSeconds' },
  { from: 'spawner.httpTimeout', to: 'spawner.httpTimeoutSeconds' },
  { from: 'spawner.pollInterval', to: 'spawner.pollIntervalSeconds' },
  { from: 'spawner.env', to: 'spawner.environment' },
  { from: 'hub.cookieMaxAgeDays', to: 'hub.cookieMaxAgeSeconds', note: 'the value is now in seconds' },
  { from: 'hub.bindUrl', to: 'proxy.ip', note: 'and proxy.port; the public address belongs to the proxy' },
  { from: 'hub.hubIp', to: 'hub.ip' },
  { from: 'hub.hubPort', to: 'hub.port' },
  { from: 'hub.dbUrl', to: null, note: 'the SQLite database lives in hub.stateDir' },
  { from: 'hub.cookieSecret', to: null, note: 'it is generated in hub.stateDir' },
  { from: 'proxy.shouldStart', to: 'proxy.external', note: 'with the opposite meaning' },
  { from: 'proxy.apiToken', to: 'proxy.authToken' },
  // Each kind's own old names, from its descriptor.
  ...fromKinds('authenticator', authenticatorKinds.kinds),
  ...fromKinds('spawner', spawnerKinds.kinds),
];

export function renamedMessage(r: RenamedKey): string {
  const base = r.to === null ? 'removed' : `removed; use ${r.to} instead`;
  return r.note ? `${base} (${r.note})` : base;
}
