/**
 * The YAML side of the loader: parse with positions, substitute ${ENV_VAR} in string values on
 * the document itself (so positions survive), and map a key path back to its line.
 */
import { LineCounter, isMap, isPair, isScalar, isSeq, parseDocument, type Document, type Node } from 'yaml';

export type Segment = string | number;

export interface RawProblem {
  segments: Segment[];
  message: string;
  /** Set when the position is known directly (syntax errors). */
  line?: number | null;
  /** Point at the key rather than the value (unknown keys). */
  atKey?: boolean;
  /** An unset ${VAR}: `atrium config check` reports it as a warning (the name of the variable). */
  unsetEnv?: string;
}

export interface YamlSource {
  doc: Document;
  lineCounter: LineCounter;
}

export function parseYaml(text: string): { source: YamlSource; problems: RawProblem[] } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const problems: RawProblem[] = doc.errors.map((e) => ({
    segments: [],
    line: lineCounter.linePos(e.pos[0]).line,
    message: `YAML: ${e.message.split('\n')[0]}`,
  }));
  return { source: { doc, lineCounter }, problems };
}

const VAR_REF = /\$\$\{|\$\{([^}]*)\}|\$\{/g;
const VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Substitute ${NAME} and ${NAME:-default} (the default also when NAME is empty, as in the shell);
 * $${ is a literal "${". Only values, never keys. A plain (unquoted) scalar that was entirely
 * substituted is re-typed as YAML would have (port: ${PORT} gives a number); quote it to keep a
 * string.
 */
export function substituteEnv(
  source: YamlSource,
  env: NodeJS.ProcessEnv,
  opts: { keepUnset?: boolean; onDefault?: (segments: Segment[], name: string) => void } = {},
): RawProblem[] {
  const problems: RawProblem[] = [];
  const visit = (node: unknown, segments: Segment[]): void => {
    if (isMap(node)) {
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? pair.key.value : pair.key;
        visit(pair.value, [...segments, String(key)]);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => visit(item, [...segments, i]));
    } else if (isScalar(node) && typeof node.value === 'string' && node.value.includes('${')) {
      const original = node.value;
      let changed = false;
      const replaced = original.replace(VAR_REF, (match, inner: string | undefined) => {
        if (match === '$${') return '${';
        if (inner === undefined) {
          problems.push({ segments, message: 'unterminated ${ (write $${ for a literal "${")' });
          return match;
        }
        const sep = inner.indexOf(':-');
        const name = sep === -1 ? inner : inner.slice(0, sep);
        if (!VAR_NAME.test(name)) {
          problems.push({ segments, message: `bad environment variable reference \${${inner}}` });
          return match;
        }
        changed = true;
        const value = env[name];
        if (value !== undefined && (value !== '' || sep === -1)) return value;
        if (sep !== -1) {
          // Told to the caller so `config check` can tell an example's stand-in path from a site's own.
          opts.onDefault?.(segments, name);
          return inner.slice(sep + 2);
        }
        problems.push({ segments, message: `environment variable ${name} is not set (use \${${name}:-default} for a default)`, unsetEnv: name });
        // keepUnset (config check): the reference stays as a non-empty stand-in, so checks such
        // as "an external proxy needs authToken" do not report the missing secret a second time.
        return opts.keepUnset ? match : '';
      });
      node.value = changed && node.type === 'PLAIN' && /^\$\{[^}]*\}$/.test(original) ? retype(replaced) : replaced;
    }
  };
  visit(source.doc.contents, []);
  return problems;
}

function retype(value: string): string | number | boolean | null {
  if (/^-?\d+$/.test(value)) return Number(value);
  if (/^-?\d+\.\d+$/.test(value)) return Number(value);
  if (value === 'true' || value === 'false') return value === 'true';
  return value;
}

/**
 * Line (1-based) of the node at `segments`, or of its deepest existing ancestor when the node is
 * absent (a required key missing from `proxy:` points at `proxy:`). null when nothing matched.
 */
export function lineOf(source: YamlSource, segments: readonly Segment[], atKey = true): number | null {
  let node: unknown = source.doc.contents;
  let offset: number | null = null;
  for (const seg of segments) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) break;
      const keyNode = pair.key as Node;
      const valueNode = pair.value as Node | null;
      offset = atKey || !valueNode?.range ? (keyNode.range?.[0] ?? offset) : valueNode.range[0];
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number' && seg < node.items.length) {
      node = node.items[seg];
      offset = (node as Node).range?.[0] ?? offset;
    } else {
      break;
    }
  }
  return offset === null ? null : source.lineCounter.linePos(offset).line;
}

export function formatPath(segments: readonly Segment[]): string {
  let out = '';
  for (const seg of segments) out += typeof seg === 'number' ? `[${seg}]` : out ? `.${seg}` : seg;
  return out;
}
