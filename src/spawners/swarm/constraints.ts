/**
 * Swarm placement constraints (`node.labels.gpu==true`, `node.role!=manager`, …) evaluated against
 * the engine's node list, so that the start queue counts only the nodes a service may land on
 * (issue 15, decision 0027). The rules follow the engine's own matcher, which we read for the
 * facts: one `==` or `!=` per expression (`==` is looked for first); attribute names compare
 * case-insensitively, label *names* exactly, and every value case-insensitively; a label the node
 * lacks reads as "" (so `!=` matches it); a key the engine does not know matches no node.
 *
 * What this code cannot decide is never guessed as "every node": an expression that does not
 * parse, or that names an attribute we do not evaluate, makes the answer `unknown`, and the hub
 * admits such a start against the whole-cluster limit instead (node-admission.ts).
 */
import { BlockList, isIP } from 'node:net';

/** The fields of a node (GET /nodes) that admission and constraints look at. */
export interface SwarmNodeInfo {
  ID: string;
  Spec?: { Availability?: string; Role?: string; Labels?: Record<string, string> | null };
  Status?: { State?: string; Addr?: string };
  Description?: {
    Hostname?: string;
    Platform?: { OS?: string; Architecture?: string };
    Engine?: { Labels?: Record<string, string> | null };
    Resources?: { GenericResources?: GenericResource[] | null };
  };
}

/** A generic resource a node advertises (dockerd --node-generic-resource). */
export type GenericResource = { DiscreteResourceSpec?: { Kind?: string; Value?: number }; NamedResourceSpec?: { Kind?: string; Value?: string } };

export interface Constraint {
  key: string;
  op: '==' | '!=';
  value: string;
}

// The engine's own limits on a key and a value (it refuses the service otherwise).
const KEY = /^[a-z_][a-z0-9\-_.]+$/i;
const VALUE = /^[a-z0-9:\-_\s.*()?+[\]\\^$|/]+$/i;

/** One expression, or a reason it is not one the engine would accept. */
export function parseConstraint(expr: string): Constraint | { problem: string } {
  const op = expr.includes('==') ? '==' : expr.includes('!=') ? '!=' : null;
  if (!op) return { problem: 'needs == or !=' };
  const at = expr.indexOf(op);
  const key = expr.slice(0, at).trim();
  const value = expr.slice(at + 2).trim();
  if (!KEY.test(key)) return { problem: `"${key.slice(0, 60)}" is not a valid attribute name` };
  if (!VALUE.test(value)) return { problem: `"${value.slice(0, 60)}" is not a valid value` };
  return { key, op, value };
}

const NODE_LABELS = 'node.labels.';
const ENGINE_LABELS = 'engine.labels.';

/** The attributes this module evaluates (any other key is "unknown", see above). */
export function isEvaluable(key: string): boolean {
  const k = key.toLowerCase();
  if ((k.startsWith(NODE_LABELS) && k.length > NODE_LABELS.length) || (k.startsWith(ENGINE_LABELS) && k.length > ENGINE_LABELS.length)) return true;
  return ['node.id', 'node.hostname', 'node.role', 'node.platform.os', 'node.platform.arch', 'node.ip'].includes(k);
}

/** Does `node` satisfy `c`? Only for evaluable keys (isEvaluable). */
export function nodeMeets(node: SwarmNodeInfo, c: Constraint): boolean {
  const k = c.key.toLowerCase();
  if (k === 'node.ip') return ipMatches(node.Status?.Addr ?? '', c);
  let have: string;
  if (k.startsWith(NODE_LABELS)) have = node.Spec?.Labels?.[c.key.slice(NODE_LABELS.length)] ?? '';
  else if (k.startsWith(ENGINE_LABELS)) have = node.Description?.Engine?.Labels?.[c.key.slice(ENGINE_LABELS.length)] ?? '';
  else if (k === 'node.id') have = node.ID;
  else if (k === 'node.hostname') have = node.Description?.Hostname ?? '';
  else if (k === 'node.role') have = node.Spec?.Role ?? '';
  else if (k === 'node.platform.os') have = node.Description?.Platform?.OS ?? '';
  else have = node.Description?.Platform?.Architecture ?? '';
  const equal = have.toLowerCase() === c.value.toLowerCase();
  return c.op === '==' ? equal : !equal;
}

/** `node.ip` takes an address or a CIDR block; anything else matches no node (as in the engine). */
function ipMatches(addr: string, c: Constraint): boolean {
  const family = isIP(addr);
  if (family === 0) return false;
  const type = family === 6 ? 'ipv6' : 'ipv4';
  const list = new BlockList();
  const [net, bits] = c.value.split('/');
  try {
    if (bits === undefined) {
      if (isIP(net!) === 0) return false;
      list.addAddress(net!, isIP(net!) === 6 ? 'ipv6' : 'ipv4');
    } else {
      if (isIP(net!) === 0 || !/^\d+$/.test(bits)) return false;
      list.addSubnet(net!, Number(bits), isIP(net!) === 6 ? 'ipv6' : 'ipv4');
    }
  } catch {
    return false;
  }
  const inside = list.check(addr, type);
  return c.op === '==' ? inside : !inside;
}

/** A node advertises at least `count` of the generic resource `kind` (as Swarm requires to place it). */
export function hasGenericResource(node: SwarmNodeInfo, kind: string, count: number): boolean {
  let have = 0;
  for (const r of node.Description?.Resources?.GenericResources ?? []) {
    if (r.DiscreteResourceSpec?.Kind === kind) have += r.DiscreteResourceSpec.Value ?? 0;
    else if (r.NamedResourceSpec?.Kind === kind) have += 1;
  }
  return have >= count;
}

/**
 * The nodes among `nodes` that meet every expression, or the first expression that cannot be
 * evaluated (`unknown`).
 */
export function nodesMeeting(nodes: readonly SwarmNodeInfo[], exprs: readonly string[]): { nodes: SwarmNodeInfo[] } | { unknown: string } {
  const parsed: Constraint[] = [];
  for (const e of exprs) {
    const c = parseConstraint(e);
    if ('problem' in c || !isEvaluable(c.key)) return { unknown: e };
    parsed.push(c);
  }
  return { nodes: nodes.filter((n) => parsed.every((c) => nodeMeets(n, c))) };
}

/** The constraint that pins a service to the node the start queue admitted it on. */
export function nodeConstraint(nodeId: string): string {
  return `node.id==${nodeId}`;
}

/** userOptions key under which an environment of the catalogue carries its placement constraints. */
export const ENV_CONSTRAINTS_KEY = 'environmentConstraints';

/** An environment's constraints as stored with the spawn (only the hub writes this key). */
export function environmentConstraints(userOptions: Record<string, unknown>): string[] {
  const c = userOptions[ENV_CONSTRAINTS_KEY];
  return Array.isArray(c) ? c.filter((x): x is string => typeof x === 'string') : [];
}
