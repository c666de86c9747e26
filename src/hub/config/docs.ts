/**
 * docs/config.md, generated from the schema so the reference cannot drift from what the loader
 * accepts. `npm run docs:config` writes it; a test fails when the file is stale.
 */
import { AtriumConfigSchema } from './schema.js';
import { discriminator } from './validate.js';

type Schema = Record<string, unknown> & {
  type?: string;
  description?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  anyOf?: Schema[];
  additionalProperties?: boolean | Schema;
  patternProperties?: Record<string, Schema>;
};

const HEADER = `# Configuration reference (atrium.yaml)

<!-- Generated from src/hub/config/schema.ts by \`npm run docs:config\`. Do not edit by hand. -->

One YAML file configures the hub, the proxy, the authenticator, the spawner and hooks.
Check a file without starting anything: \`atrium config check atrium.yaml\`.

- Every key below is optional unless marked **required**; missing keys take the default shown.
  An empty file is a valid configuration (dummy authenticator, local spawner, child proxy).
- Unknown keys are errors, with a did-you-mean; every problem in the file is reported at once,
  each with its line and key path. Keys that were renamed say what to use instead.
- \`\${NAME}\` in a value is replaced by the environment variable NAME (an error if it is unset);
  \`\${NAME:-default}\` falls back to \`default\` when NAME is unset or empty; \`$\${\` is a literal
  \`\${\`. An unquoted value that is only a reference (\`port: \${PORT}\`) is typed as YAML would
  type the substituted text; quote it to keep a string. Keep secrets in the environment.
- Durations and sizes carry their unit in the key name (\`startTimeoutSeconds\`,
  \`maxBodyBytes\`); keys that take strings like \`2G\` or \`90s\` say so.
- See the examples in \`config/\` (minimal.yaml, header-portal.yaml, …).
`;

const esc = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const code = (v: unknown) => `\`${JSON.stringify(v)}\``;

function isObject(s: Schema): boolean {
  return s.type === 'object' && s.properties !== undefined;
}

function literals(s: Schema): unknown[] | null {
  return s.anyOf && s.anyOf.every((b) => 'const' in b) ? s.anyOf.map((b) => b.const) : null;
}

function typeOf(s: Schema): string {
  if ('const' in s && s.anyOf === undefined) return code(s.const);
  const lits = literals(s);
  if (lits) return `one of ${lits.map(code).join(', ')}`;
  if ('const' in s) return code(s.const);
  if (s.anyOf) return s.anyOf.map(typeOf).join(' or ');
  switch (s.type) {
    case 'array':
      return s.items ? `list of ${isObject(s.items) || s.items.anyOf ? 'entries (below)' : typeOf(s.items)}` : 'list';
    case 'object':
      if (isObject(s)) return 'mapping (below)';
      return `mapping of string to ${typeOf((s.patternProperties && Object.values(s.patternProperties)[0]) ?? { type: 'string' })}`;
    default:
      return s.type ?? 'any';
  }
}

function constraints(s: Schema): string {
  const parts: string[] = [];
  if (typeof s.minimum === 'number') parts.push(`≥ ${s.minimum}`);
  if (typeof s.maximum === 'number') parts.push(`≤ ${s.maximum}`);
  if (typeof s.minLength === 'number' && s.minLength > 0) parts.push('not empty');
  if (typeof s.pattern === 'string') parts.push(`matches \`${s.pattern}\``);
  if (s.format === 'uri') parts.push('absolute URL');
  return parts.length ? ` (${parts.join(', ')})` : '';
}

function defaultOf(s: Schema, required: boolean): string {
  if (required) return '**required**';
  if (!('default' in s)) return '—';
  if (isObject(s)) return '';
  return code(s.default);
}

interface Block {
  path: string;
  schema: Schema;
  /** "kind: ldap-account" for one branch of a union. */
  label?: string;
}

function renderBlock(b: Block, out: string[], level: number): void {
  const pending: Block[] = [];
  out.push(`${'#'.repeat(level)} \`${b.path}\`${b.label ? ` (${b.label})` : ''}`, '');
  if (b.schema.description) out.push(b.schema.description, '');
  const required = new Set(b.schema.required ?? []);
  out.push('| Key | Type | Default | Description |', '| --- | --- | --- | --- |');
  for (const [key, child] of Object.entries(b.schema.properties ?? {})) {
    const path = b.path ? `${b.path}.${key}` : key;
    const isReq = required.has(key) && !('default' in child);
    out.push(`| \`${key}\` | ${esc(typeOf(child))} | ${esc(defaultOf(child, isReq))} | ${esc((child.description ?? '') + constraints(child))} |`);
    if (isObject(child)) pending.push({ path, schema: child });
    const items = child.type === 'array' ? child.items : undefined;
    const branches = items?.anyOf ?? (items && isObject(items) ? [items] : []);
    const disc = discriminator(branches);
    branches.forEach((branch, i) => {
      pending.push({ path: `${path}[]`, schema: branch, label: disc ? `${disc.key}: ${String(disc.values[i])}` : undefined });
    });
  }
  out.push('');
  for (const p of pending) renderBlock(p, out, Math.min(level + 1, 4));
}

export function renderConfigDocs(): string {
  const out: string[] = [HEADER];
  const root = AtriumConfigSchema as unknown as Schema;
  const topScalars: Block = { path: '', schema: { ...root, properties: {} } };
  for (const [key, s] of Object.entries(root.properties ?? {})) {
    if (!isObject(s)) topScalars.schema.properties![key] = s;
  }
  renderBlockTop(topScalars, out);
  for (const [key, s] of Object.entries(root.properties ?? {})) {
    if (isObject(s)) renderBlock({ path: key, schema: s }, out, 2);
  }
  return `${out.join('\n').replace(/\n{3,}/g, '\n\n').trimEnd()}\n`;
}

/** The few top-level keys that are not sections (hooks, logLevel) get one table of their own. */
function renderBlockTop(b: Block, out: string[]): void {
  const tmp: string[] = [];
  renderBlock(b, tmp, 2);
  tmp[0] = '## Top-level keys';
  tmp[2] = 'Keys at the top of the file besides the sections below.';
  out.push(...tmp);
}
