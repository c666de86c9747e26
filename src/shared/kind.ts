/**
 * What every kind (spawner, authenticator, hook) declares about itself, whatever its extension
 * point. The hub composes the config schema, `atrium config check` and the registry from these
 * descriptors, so adding a kind touches its own folder and one list (src/<room>/kinds.ts).
 *
 * A descriptor module must stay light: it imports the options schema and the checks, never the
 * implementation (dockerode, ldapts); `load()` imports that only when the kind is configured.
 */
import type { TSchema } from '@sinclair/typebox';

/** One problem found in a kind's options, relative to its options block (e.g. ['jwt', 'secret']). */
export interface OptionProblem {
  segments: (string | number)[];
  message: string;
}

/** A problem anywhere in the file, from the config root (e.g. ['hub', 'trustedProxies', 0]). */
export interface ConfigProblemAt {
  segments: (string | number)[];
  message: string;
}

/** What a cross-check may look at besides its own options. */
export interface CrossCheckContext {
  /** The whole configuration as parsed (defaults filled, but possibly with wrong types). */
  config: Record<string, unknown>;
  /** Traits of the configured spawner kind, or null when spawner.kind names no known kind. */
  spawner: { name: string; serversOnHubHost: boolean } | null;
}

export interface KindDescriptor {
  /** The value of `kind:` in atrium.yaml. */
  readonly name: string;
  /** The kind's options block (TypeBox), composed into the one config schema. */
  readonly optionsSchema: TSchema;
  /**
   * Checks JSON Schema cannot express (regexes and filters that must compile, keys that go
   * together, files that must be readable). `atrium config check` and hub start run them through
   * the config loader; the implementation's constructor runs them again so a hand-built options
   * object cannot skip them. `active`: this kind is the configured one (an unused block only gets
   * syntax checks). Runs even when the schema found problems, so it must tolerate wrong types.
   */
  validateOptions?(options: unknown, active: boolean): OptionProblem[];
  /** Rules between this kind's options and the rest of the file; run only for the configured kind. */
  crossChecks?(options: unknown, ctx: CrossCheckContext): ConfigProblemAt[];
  /**
   * Old key names an admin may still write, relative to the extension point's section (e.g.
   * `cmd` → `local.cmd` for `spawner.cmd`); the loader refuses them naming the replacement.
   */
  readonly renamedKeys?: readonly { from: string; to: string | null; note?: string }[];
  /**
   * Keys of this kind's options block that a SIGHUP reload applies (read per decision, e.g. the
   * spawn form's choices); a path covers everything under it. Every other change needs a restart.
   */
  readonly reloadableKeys?: readonly string[];
}

/** Throw one error listing every problem: for constructors that re-run validateOptions. */
export function assertNoOptionProblems(where: string, problems: OptionProblem[]): void {
  if (problems.length === 0) return;
  throw new Error(problems.map((p) => `${[where, ...p.segments].join('.')}: ${p.message}`).join('; '));
}
