/**
 * The database (with its -wal and -shm) and every secret file are 0600 and the state dir 0700,
 * whatever the umask the hub was started with, and an install with looser modes (an older
 * version, a restore, a hand-made file) is tightened at the next start. Real hub process.
 */
import { chmodSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { hubProcess, type HubProcess } from './hub-process.js';

const PRIVATE = ['atrium.sqlite', 'atrium.sqlite-wal', 'atrium.sqlite-shm', 'auth-state.key', 'proxy-token'];
const mode = (p: string) => statSync(p).mode & 0o777;

function modes(stateDir: string): Record<string, string> {
  const out: Record<string, string> = { '.': mode(stateDir).toString(8), logs: mode(join(stateDir, 'logs')).toString(8) };
  for (const f of PRIVATE) out[f] = existsSync(join(stateDir, f)) ? mode(join(stateDir, f)).toString(8) : 'missing';
  return out;
}

const expected = { '.': '700', logs: '700', ...Object.fromEntries(PRIVATE.map((f) => [f, '600'])) };

describe.each(['0022', '0000'])('state file modes under umask %s', (umaskText) => {
  const umask = parseInt(umaskText, 8);
  let hp: HubProcess | null = null;
  let saved: number | null = null;
  afterEach(async () => {
    if (saved !== null) process.umask(saved);
    saved = null;
    await hp?.teardown();
    hp = null;
  });

  it('creates the database and secrets 0600 in a 0700 dir, and tightens a loose install at start', async () => {
    saved = process.umask(umask);
    hp = await hubProcess();
    chmodSync(hp.stateDir, 0o755); // as mkdtemp would not, but an admin's mkdir would
    await hp.start();
    expect(modes(hp.stateDir)).toEqual(expected);

    // An existing install with loose modes: every file and the dir are tightened at start.
    expect(await hp.kill('SIGTERM')).toMatchObject({ code: 0 });
    chmodSync(hp.stateDir, 0o777);
    chmodSync(join(hp.stateDir, 'logs'), 0o777);
    for (const f of PRIVATE) if (existsSync(join(hp.stateDir, f))) chmodSync(join(hp.stateDir, f), 0o666);
    await hp.start();
    expect(modes(hp.stateDir)).toEqual(expected);
  }, 60_000);
});
