/** ServiceProcess with real child processes: restart with back-off after an exit or a missing program, stop by PID. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { ServiceRegistry } from '../../../src/hub/services/registry.js';
import { ServiceProcess } from '../../../src/hub/services/process.js';
import type { AtriumConfig } from '../../../src/hub/config/schema.js';

const logDir = mkdtempSync(join(tmpdir(), 'atrium-svc-'));
afterAll(() => rmSync(logDir, { recursive: true, force: true }));

function service(command: string[]) {
  const entry = { name: 'svc', command, scopes: [], roles: [], environment: {}, oauthNoConfirm: false, accessUsers: [], accessGroups: [], accessAllUsers: false, display: true, info: {} };
  const reg = new ServiceRegistry({ services: [entry] } as unknown as AtriumConfig, '/');
  const s = reg.byName.get('svc')!;
  return { s, p: new ServiceProcess(s, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, logDir, log: pino({ level: 'silent' }) }) };
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('managed service process', () => {
  it('restarts a command that exits, after 1 s then 2 s', async () => {
    const { p } = service(['sh', '-c', 'exit 3']);
    p.start();
    await new Promise((r) => setTimeout(r, 2500));
    // t=0 start, exit; t≈1 s second start, exit; t≈3 s third start.
    expect(p.starts).toBe(2);
    await p.stop();
    const n = p.starts;
    await new Promise((r) => setTimeout(r, 1500));
    expect(p.starts).toBe(n);
  }, 10_000);

  it('retries a program that does not exist instead of giving up', async () => {
    const { p } = service(['/nonexistent/atrium-service']);
    p.start();
    await new Promise((r) => setTimeout(r, 1500));
    expect(p.starts).toBe(2);
    await p.stop();
  }, 10_000);

  it('stops a running command by its PID (SIGTERM to its process group)', async () => {
    const { s, p } = service(['sh', '-c', 'sleep 60 & wait']);
    p.start();
    const pid = s.pid;
    expect(pid).toBeGreaterThan(0);
    expect(alive(pid)).toBe(true);
    await p.stop();
    expect(alive(pid)).toBe(false);
    expect(s.pid).toBe(0);
  }, 10_000);
});
