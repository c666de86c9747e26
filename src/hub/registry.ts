/**
 * Which implementation serves each configured kind. Implementations are imported lazily so a
 * deployment that uses the local spawner never loads dockerode, and one without LDAP never
 * loads ldapts.
 */
import type { Logger } from 'pino';
import type { AtriumConfig } from './config/schema.js';
import type { Authenticator } from '../authenticators/authenticator.js';
import type { SpawnerKind } from '../spawners/spawner.js';
import type { Hook } from '../hooks/hook.js';

export async function loadAuthenticator(config: AtriumConfig, log: Logger): Promise<Authenticator> {
  const a = config.authenticator;
  const alog = log.child({ component: `authenticator:${a.kind}` });
  switch (a.kind) {
    case 'dummy':
      return (await import('../authenticators/dummy/index.js')).dummyAuthenticatorKind.create({ options: a.dummy, log: alog });
    case 'header':
      return (await import('../authenticators/header/index.js')).headerAuthenticatorKind.create({ options: a.header, log: alog });
    case 'ldap':
      return (await import('../authenticators/ldap/index.js')).ldapAuthenticatorKind.create({ options: a.ldap, log: alog });
  }
}

export async function loadSpawnerKind(config: AtriumConfig): Promise<{ kind: SpawnerKind<unknown>; options: unknown }> {
  const s = config.spawner;
  switch (s.kind) {
    case 'local':
      return { kind: (await import('../spawners/local/index.js')).localSpawnerKind as SpawnerKind<unknown>, options: s.local };
    case 'swarm':
      return { kind: (await import('../spawners/swarm/index.js')).swarmSpawnerKind as SpawnerKind<unknown>, options: s.swarm };
    case 'slurm':
      return { kind: (await import('../spawners/slurm/index.js')).slurmSpawnerKind as SpawnerKind<unknown>, options: s.slurm };
  }
}

export async function loadHooks(config: AtriumConfig, log: Logger): Promise<{ hook: Hook; timeoutSeconds: number }[]> {
  const out = [];
  for (const h of config.hooks) {
    const hlog = log.child({ component: `hook:${h.kind}` });
    switch (h.kind) {
      case 'ldap-account': {
        const { ldapAccountHookKind } = await import('../hooks/ldap-account/index.js');
        out.push({ hook: ldapAccountHookKind.create({ options: h.ldapAccount, log: hlog }), timeoutSeconds: h.timeoutSeconds });
        break;
      }
    }
  }
  return out;
}
