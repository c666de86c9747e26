/** The portal's event ids and replay buffer (src/hub/jobs/events.ts), without a hub. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { SpawnManager } from '../../../src/hub/spawn/manager.js';
import { PortalEvents, type PortalEvent } from '../../../src/hub/jobs/events.js';

const job = (what: string, user = 'ann'): PortalEvent => ({ type: 'job', what, user, message: what, data: {} });

describe('portal events: ids and replay', () => {
  it('ids count up from the cursor; a stream after a cursor gets exactly the later events', () => {
    const ev = new PortalEvents(null);
    const start = ev.cursor();
    expect(PortalEvents.validCursor(start)).toBe(true);
    const heard: string[] = [];
    const off = ev.subscribe('ann', (_e, id) => heard.push(id));
    ev.emit(job('submitted'));
    const mid = ev.cursor();
    ev.emit(job('started'));
    ev.emit(job('tick'));
    ev.emit(job('finished'));
    off();
    expect(heard).toHaveLength(4);
    expect(heard[0]!.split('-')[0]).toBe(start.split('-')[0]);
    expect(heard.map((id) => Number(id.split('-')[1]))).toEqual([1, 2, 3, 4]);
    const r = ev.since(mid);
    // Ticks are superseded by the next one and are not kept.
    expect('events' in r && r.events.map((x) => x.e.what)).toEqual(['started', 'finished']);
    expect('events' in r && r.events.map((x) => x.id)).toEqual([heard[1], heard[3]]);
    expect(ev.since(ev.cursor())).toEqual({ events: [] });
  });

  it('asks for a resync when the gap cannot be replayed: another hub start, a cursor ahead, events dropped', () => {
    const ev = new PortalEvents(null);
    const other = new PortalEvents(null);
    expect(ev.since(other.cursor())).toEqual({ resync: true });
    expect(ev.since(`${ev.cursor().split('-')[0]}-99`)).toEqual({ resync: true });
    const first = ev.cursor();
    for (let i = 0; i < 600; i++) ev.emit(job(`e${i}`));
    // 512 kept: 88 dropped, so seq 0 cannot be replayed but seq 88 (the last dropped) can.
    expect(ev.since(first)).toEqual({ resync: true });
    const epoch = ev.cursor().split('-')[0];
    const r = ev.since(`${epoch}-88`);
    expect('events' in r && r.events.length).toBe(512);
    expect(ev.since(`${epoch}-87`)).toEqual({ resync: true });
  });

  it('cursor syntax is strict (it comes from the client)', () => {
    for (const bad of ['', '1', 'abc-1', '0123456g-1', '01234567-', '01234567-1x', '01234567-1234567890123456', '../x']) expect(PortalEvents.validCursor(bad)).toBe(false);
    expect(PortalEvents.validCursor('0a1b2c3d-0')).toBe(true);
  });

  afterEach(() => {
    vi.useRealTimers();
  });

  it('a session that becomes ready between a page render and its stream opening is replayed; the watcher stops a minute after', () => {
    vi.useFakeTimers();
    const active = new Map<string, { key: string; userName: string; serverName: string; phase: string; prefix: string }>();
    const spawns = { active, failures: new Map() } as unknown as SpawnManager;
    const ev = new PortalEvents(spawns);
    active.set('ann/', { key: 'ann/', userName: 'ann', serverName: '', phase: 'spawn', prefix: '/user/ann/' });
    const rendered = ev.cursor(); // the page is rendered: nobody listens yet
    active.get('ann/')!.phase = 'running';
    vi.advanceTimersByTime(1000);
    const r = ev.since(rendered);
    expect('events' in r && r.events.map((x) => [x.e.type, x.e.what, x.e.message])).toEqual([['session', 'started', 'Your session is ready']]);
    // Nobody opened a stream: a minute later the watcher is off, and changes make no events.
    vi.advanceTimersByTime(61_000);
    active.delete('ann/');
    vi.advanceTimersByTime(5000);
    const later = ev.since(rendered);
    expect('events' in later && later.events).toHaveLength(1);
    ev.close();
  });
});
