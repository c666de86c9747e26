/**
 * Each kind's own checks (its descriptor's validateOptions and crossChecks), run by the config
 * loader, hence by `atrium config check` and by hub start alike: a file that passes the check is
 * not refused by a kind's constructor. The hub knows kinds only through the lists.
 */
import { authenticatorKinds } from '../../authenticators/kinds.js';
import { hookKinds } from '../../hooks/kinds.js';
import type { ConfigProblemAt, CrossCheckContext, KindDescriptor } from '../../shared/kind.js';
import { spawnerKinds } from '../../spawners/kinds.js';

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {});

/** Run one kind's checks on its block at `base`; `active`: it is the configured kind. */
function checkKind(d: KindDescriptor, block: unknown, base: (string | number)[], active: boolean, ctx: CrossCheckContext): ConfigProblemAt[] {
  // A block the schema has not filled (a hooks[] entry without one) is checked as the empty one
  // its defaults would make, so missing required keys are still found.
  const options = block === undefined ? {} : block;
  const out: ConfigProblemAt[] = (d.validateOptions?.(options, active) ?? []).map((p) => ({ segments: [...base, ...p.segments], message: p.message }));
  if (active && d.crossChecks) out.push(...d.crossChecks(options, ctx));
  return out;
}

export function kindProblems(config: Obj): ConfigProblemAt[] {
  const auth = obj(config.authenticator);
  const spawner = obj(config.spawner);
  const chosenSpawner = spawnerKinds.kinds.find((d) => d.name === spawner.kind);
  const ctx: CrossCheckContext = {
    config,
    spawner: chosenSpawner ? { name: chosenSpawner.name, serversOnHubHost: chosenSpawner.serversOnHubHost } : null,
  };
  const out: ConfigProblemAt[] = [];
  // Every block is checked (an unused one only for syntax), as an admin may switch kinds later.
  for (const d of authenticatorKinds.kinds) {
    out.push(...checkKind(d, auth[d.name], ['authenticator', d.name], auth.kind === d.name, ctx));
  }
  for (const d of spawnerKinds.kinds) {
    out.push(...checkKind(d, spawner[d.name], ['spawner', d.name], spawner.kind === d.name, ctx));
  }
  const hooks = Array.isArray(config.hooks) ? config.hooks : [];
  hooks.forEach((entry: unknown, i) => {
    const h = obj(entry);
    const d = hookKinds.kinds.find((k) => k.name === h.kind);
    if (d) out.push(...checkKind(d, h[d.optionsKey], ['hooks', i, d.optionsKey], true, ctx));
  });
  return out;
}
