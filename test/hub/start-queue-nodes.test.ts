/**
 * Per-node admission in the start queue (issue 15 item 2, decision 0024), the class on its own:
 * at most perNode starts per listed node, the least busy node first, FIFO across nodes, a node
 * that leaves the list keeps its running starts but gets no new one, a node that joins admits
 * waiters at once, and the constraint filter that decides which Swarm nodes are listed. The same
 * queue against a real multi-node Swarm is in test/hub/swarm-node-admission.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { StartQueue, type Slot } from '../../src/hub/spawn/start-queue.js';
import { admissionView, type SwarmNodeInfo } from '../../src/spawners/swarm/nodes.js';

const eligibleNodes = (nodes: SwarmNodeInfo[], placementConstraints: string[]) => admissionView(nodes, { placementConstraints, genericResources: {} }).nodes;

const never = () => new AbortController().signal;

describe('StartQueue per node', () => {
  it('admits perNode starts on each node, least busy first, and the rest in order', async () => {
    const q = new StartQueue(0);
    q.setNodes(['n1', 'n2'], 2);
    expect(q.enabled).toBe(true);
    const granted: Slot[] = [];
    for (const k of ['a', 'b', 'c', 'd']) granted.push(await q.acquire(k, never(), () => undefined));
    // Spread: a→n1, b→n2, c→n1, d→n2.
    expect(granted.map((s) => s.node)).toEqual(['n1', 'n2', 'n1', 'n2']);
    expect(q.nodeUsage()).toEqual(new Map([['n1', 2], ['n2', 2]]));
    const order: string[] = [];
    const pe = q.acquire('e', never(), () => undefined).then((s) => (order.push('e'), s));
    const pf = q.acquire('f', never(), () => undefined).then((s) => (order.push('f'), s));
    expect(q.positionOf('f')?.position).toBe(2);
    granted[1]!(); // b leaves n2
    const e = await pe;
    expect(e.node).toBe('n2');
    expect(order).toEqual(['e']);
    granted[0]!(); // a leaves n1
    const f = await pf;
    expect(f.node).toBe('n1');
    for (const s of [granted[2]!, granted[3]!, e, f]) s();
    expect(q.running).toBe(0);
    expect(q.nodeUsage()).toEqual(new Map([['n1', 0], ['n2', 0]]));
  });

  it('a node that leaves keeps its starts but gets no new one; a node that joins admits waiters', async () => {
    const q = new StartQueue(0);
    q.setNodes(['n1'], 1);
    const a = await q.acquire('a', never(), () => undefined);
    expect(a.node).toBe('n1');
    const updates: number[] = [];
    const pb = q.acquire('b', never(), (p) => updates.push(p.position));
    expect(updates).toEqual([1]);
    // n1 is drained: a still holds its slot there; b must not get n1 when a is done.
    q.setNodes([], 1);
    expect(q.nodeUsage()).toEqual(new Map([['n1', 1]]));
    a();
    expect(q.nodeUsage()).toEqual(new Map());
    expect(q.length).toBe(1);
    // No node can take a server: the estimate says nothing rather than something wrong.
    expect(q.estimateSeconds(1)).toBeNull();
    q.setNodes(['n2'], 1);
    const b = await pb;
    expect(b.node).toBe('n2');
    b();
  });

  it('respects slots as a cap over all nodes, and null goes back to whole-backend admission', async () => {
    const q = new StartQueue(1);
    q.setNodes(['n1', 'n2'], 4);
    const a = await q.acquire('a', never(), () => undefined);
    let bGranted = false;
    const pb = q.acquire('b', never(), () => undefined).then((s) => ((bGranted = true), s));
    await new Promise((r) => setTimeout(r, 20));
    expect(bGranted).toBe(false);
    a();
    const b = await pb;
    expect(b.node).toBe('n1');
    b();
    q.setNodes(null);
    const c = await q.acquire('c', never(), () => undefined);
    expect(c.node).toBeUndefined();
    c();
  });

  it('the estimate divides by nodes × perNode', async () => {
    const q = new StartQueue(0);
    q.setNodes(['n1', 'n2', 'n3'], 2);
    const s = await q.acquire('a', never(), () => undefined);
    await new Promise((r) => setTimeout(r, 30));
    s();
    // One hold of ~30 ms on record; position 7 with 6 slots = two rounds → at least 1 s (rounded up).
    expect(q.estimateSeconds(7)).toBe(1);
    expect(q.estimateSeconds(6)).toBe(1);
  });
});

describe('eligible Swarm nodes', () => {
  const node = (id: string, extra: Partial<SwarmNodeInfo> = {}): SwarmNodeInfo => ({
    ID: id,
    Spec: { Availability: 'active', Role: 'worker', Labels: {} },
    Status: { State: 'ready' },
    Description: { Hostname: `host-${id}`, Platform: { OS: 'linux', Architecture: 'x86_64' }, Engine: { Labels: {} } },
    ...extra,
  });
  it('keeps active, ready nodes that meet every constraint', () => {
    const nodes = [
      node('a', { Spec: { Availability: 'active', Role: 'manager', Labels: { notebooks: 'true' } } }),
      node('b', { Spec: { Availability: 'drain', Role: 'worker', Labels: { notebooks: 'true' } } }),
      node('c', { Status: { State: 'down' }, Spec: { Availability: 'active', Labels: { notebooks: 'true' } } }),
      node('d', { Spec: { Availability: 'active', Role: 'worker', Labels: { notebooks: 'true', gpu: 'yes' } } }),
      node('e'),
    ];
    expect(eligibleNodes(nodes, [])).toEqual(['a', 'd', 'e']);
    expect(eligibleNodes(nodes, ['node.labels.notebooks==true'])).toEqual(['a', 'd']);
    expect(eligibleNodes(nodes, ['node.labels.notebooks == true', 'node.role!=manager'])).toEqual(['d']);
    expect(eligibleNodes(nodes, ['node.hostname==HOST-E'])).toEqual(['e']);
    expect(eligibleNodes(nodes, ['node.labels.gpu!=yes'])).toEqual(['a', 'e']);
    // Values compare case-insensitively (the engine's rule), label names exactly.
    expect(eligibleNodes(nodes, ['node.labels.gpu==YES'])).toEqual(['d']);
    expect(eligibleNodes(nodes, ['node.labels.GPU==yes'])).toEqual([]);
  });

  it('an expression it cannot evaluate makes every start unknown, never "all nodes"', () => {
    const nodes = [node('a'), node('b', { Spec: { Availability: 'active', Role: 'worker', Labels: { notebooks: 'true' } } })];
    const view = admissionView(nodes, { placementConstraints: ['node.platform.osversion==12', 'node.labels.notebooks==true'], genericResources: {} });
    // The listed nodes only size the whole-cluster limit (the evaluable part still narrows them).
    expect(view.nodes).toEqual(['b']);
    expect(view.placement!({})).toEqual({ unknown: 'node.platform.osversion==12' });
    expect(admissionView(nodes, { placementConstraints: ['no operator'], genericResources: {} }).placement!({})).toEqual({ unknown: 'no operator' });
  });

  it("an environment's constraints narrow the nodes of its starts only", () => {
    const nodes = [node('a'), node('g1', { Spec: { Availability: 'active', Role: 'worker', Labels: { gpu: 'true' } } }), node('g2', { Spec: { Availability: 'pause', Role: 'worker', Labels: { gpu: 'true' } } })];
    const view = admissionView(nodes, { placementConstraints: [], genericResources: {} });
    expect(view.placement!({})).toEqual({ nodes: ['a', 'g1'] });
    expect(view.placement!({ environment: 'gpu', environmentConstraints: ['node.labels.gpu==true'] })).toEqual({ nodes: ['g1'] });
    expect(view.placement!({ environment: 'x', environmentConstraints: ['node.labels.gpu==true', 'node.id!=g1'] })).toEqual({ nodes: [] });
    expect(view.placement!({ environment: 'x', environmentConstraints: ['node.zone==1'] })).toEqual({ unknown: 'node.zone==1' });
  });

  it('nodes must advertise the generic resources every server reserves', () => {
    const gpu = (n: number) => ({ Hostname: 'h', Resources: { GenericResources: [{ DiscreteResourceSpec: { Kind: 'gpu', Value: n } }] } });
    const nodes = [node('a'), node('b', { Description: gpu(1) }), node('c', { Description: gpu(4) })];
    expect(admissionView(nodes, { placementConstraints: [], genericResources: { gpu: 2 } }).nodes).toEqual(['c']);
  });
});

describe('StartQueue per node with placements and inherited starts', () => {
  it('a start bound for busy nodes does not hold up later starts bound elsewhere, and keeps its turn', async () => {
    const q = new StartQueue(0);
    q.setNodes(['cpu1', 'gpu1'], 1);
    const gpu = new Set(['gpu1']);
    const g1 = await q.acquire('g1', never(), () => undefined, () => gpu);
    expect(g1.node).toBe('gpu1');
    let g2: Slot | null = null;
    const pg2 = q.acquire('g2', never(), () => undefined, () => gpu).then((s) => (g2 = s));
    // cpu1 is free: a start allowed anywhere goes there although g2 waits ahead of it.
    const c1 = await q.acquire('c1', never(), () => undefined);
    expect(c1.node).toBe('cpu1');
    // Both nodes busy now: c2 waits behind g2; cpu1 freeing goes to c2, not to g2 (it cannot use it).
    let c2: Slot | null = null;
    const pc2 = q.acquire('c2', never(), () => undefined).then((s) => (c2 = s));
    c1();
    await pc2;
    expect((c2 as Slot | null)?.node).toBe('cpu1');
    expect(g2).toBeNull();
    g1();
    await pg2;
    expect((g2 as Slot | null)?.node).toBe('gpu1');
    (c2 as Slot | null)?.();
    (g2 as Slot | null)?.();
  });

  it('unknown placements count against the whole-cluster capacity, on no node', async () => {
    const q = new StartQueue(0);
    q.setNodes(['n1', 'n2'], 1);
    const u1 = await q.acquire('u1', never(), () => undefined, () => 'unknown');
    expect(u1.node).toBeUndefined();
    const a = await q.acquire('a', never(), () => undefined);
    expect(a.node).toBe('n1');
    // Capacity 2 reached (one unknown, one on n1): n2 is free per node but the total is full.
    let b: Slot | null = null;
    const pb = q.acquire('b', never(), () => undefined).then((s) => (b = s));
    await new Promise((r) => setTimeout(r, 10));
    expect(b).toBeNull();
    u1();
    await pb;
    expect((b as Slot | null)?.node).toBe('n2');
    a();
    (b as Slot | null)?.();
  });

  it("a start still running on a node that left the list does not take the remaining nodes' room", async () => {
    const q = new StartQueue(0);
    q.setNodes(['n1', 'n2'], 1);
    const a = await q.acquire('a', never(), () => undefined);
    q.setNodes(['n2'], 1); // a's node n1 was drained
    const b = await q.acquire('b', never(), () => undefined, () => 'unknown');
    expect(b.node).toBeUndefined();
    a();
    b();
  });

  it('starts the backend reports on a node (inherited from a previous hub) take its room until they end', async () => {
    const q = new StartQueue(0);
    q.setNodes(['n1', 'n2'], 1, new Map([['n1', 1]]));
    expect(q.externalUsage()).toEqual(new Map([['n1', 1]]));
    const a = await q.acquire('a', never(), () => undefined);
    expect(a.node).toBe('n2');
    let b: Slot | null = null;
    const pb = q.acquire('b', never(), () => undefined).then((s) => (b = s));
    await new Promise((r) => setTimeout(r, 10));
    expect(b).toBeNull();
    // The next refresh no longer sees the inherited start: its room is free.
    q.setNodes(['n1', 'n2'], 1, new Map());
    await pb;
    expect((b as Slot | null)?.node).toBe('n1');
    a();
    (b as Slot | null)?.();
  });
});
