/**
 * Per-node admission in the start queue (issue 15 item 2, decision 0024), the class on its own:
 * at most perNode starts per listed node, the least busy node first, FIFO across nodes, a node
 * that leaves the list keeps its running starts but gets no new one, a node that joins admits
 * waiters at once, and the constraint filter that decides which Swarm nodes are listed. The same
 * queue against a real multi-node Swarm is in test/hub/swarm-node-admission.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { StartQueue, type Slot } from '../../src/hub/spawn/start-queue.js';
import { eligibleNodes, type SwarmNodeInfo } from '../../src/spawners/swarm/nodes.js';

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
    // An attribute this code does not evaluate is left to Swarm.
    expect(eligibleNodes(nodes, ['node.platform.osversion==12'])).toEqual(['a', 'd', 'e']);
  });
});
