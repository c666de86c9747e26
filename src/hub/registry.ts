/**
 * Which implementation serves each configured kind, found by name in the kinds lists
 * (src/<room>/kinds.ts). A descriptor's load() imports its implementation, so a deployment that
 * uses the local spawner never loads dockerode, and one without LDAP never loads ldapts.
 */
import type { Logger } from 'pino';
import type { AtriumConfig } from './config/schema.js';
import type { Authenticator } from '../authenticators/authenticator.js';
import { authenticatorKinds } from '../authenticators/kinds.js';
import type { SpawnerKind } from '../spawners/spawner.js';
import { spawnerKinds } from '../spawners/kinds.js';
import type { Hook } from '../hooks/hook.js';
import { hookKinds } from '../hooks/kinds.js';

type Named = { readonly name: string };

/** The loader has validated the config against the same lists, so a miss is a bug. */
function find<D extends Named>(list: readonly D[], point: string, name: string): D {
  const d = list.find((k) => k.name === name);
  if (!d) throw new Error(`${point}.kind "${name}" is not in the kinds list`);
  return d;
}

/** A kind's options block: `authenticator.<kind>`, `spawner.<kind>`. */
const block = (section: object, name: string): unknown => (section as Record<string, unknown>)[name];

export async function loadAuthenticator(config: AtriumConfig, log: Logger): Promise<Authenticator> {
  const a = config.authenticator;
  const d = find<(typeof authenticatorKinds.kinds)[number]>(authenticatorKinds.kinds, 'authenticator', a.kind);
  const kind = (await d.load()) as { create(args: { options: unknown; log: Logger }): Authenticator };
  return kind.create({ options: block(a, d.name), log: log.child({ component: `authenticator:${d.name}` }) });
}

export async function loadSpawnerKind(config: AtriumConfig): Promise<{ kind: SpawnerKind<unknown>; options: unknown }> {
  const s = config.spawner;
  const d = find<(typeof spawnerKinds.kinds)[number]>(spawnerKinds.kinds, 'spawner', s.kind);
  return { kind: (await d.load()) as SpawnerKind<unknown>, options: block(s, d.name) };
}

export async function loadHooks(config: AtriumConfig, log: Logger): Promise<{ hook: Hook; timeoutSeconds: number }[]> {
  const out = [];
  for (const h of config.hooks) {
    const d = find<(typeof hookKinds.kinds)[number]>(hookKinds.kinds, 'hooks[]', h.kind);
    const kind = (await d.load()) as { create(args: { options: unknown; log: Logger }): Hook };
    out.push({ hook: kind.create({ options: block(h, d.optionsKey), log: log.child({ component: `hook:${d.name}` }) }), timeoutSeconds: h.timeoutSeconds });
  }
  return out;
}
